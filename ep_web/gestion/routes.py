from flask import Blueprint, render_template

from ep_web.models import Profile
from ep_web.permissions import profile_required

bp = Blueprint("gestion", __name__, url_prefix="/gestion")


@bp.get("/")
@profile_required(Profile.GESTIONNAIRE)
def index():
    return render_template("errors/error.html", code=200, title="Techniciens", message="")


@bp.get("/demandes")
@profile_required(Profile.GESTIONNAIRE)
def requests():
    return render_template("errors/error.html", code=200, title="Demandes", message="")


@bp.get("/habilitations")
@profile_required(Profile.GESTIONNAIRE)
def habilitations():
    return render_template("errors/error.html", code=200, title="Habilitations", message="")
