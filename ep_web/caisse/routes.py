from flask import Blueprint, render_template

from ep_web.models import Profile
from ep_web.permissions import profile_required

bp = Blueprint("caisse", __name__, url_prefix="/caisse")


@bp.get("/partenaires")
@profile_required(Profile.ADMIN_CAISSE)
def partenaires():
    return render_template("errors/error.html", code=200, title="Partenaires", message="")


@bp.get("/demandes")
@profile_required(Profile.ADMIN_CAISSE)
def requests():
    return render_template("errors/error.html", code=200, title="Demandes", message="")


@bp.get("/agents")
@profile_required(Profile.ADMIN_CAISSE)
def agents():
    return render_template("errors/error.html", code=200, title="Agents", message="")


@bp.get("/journal")
@profile_required(Profile.ADMIN_CAISSE)
def audit():
    return render_template("errors/error.html", code=200, title="Journal", message="")
