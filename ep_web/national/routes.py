from flask import Blueprint, render_template

from ep_web.extensions import db
from ep_web.models import Caisse, Profile
from ep_web.permissions import profile_required

bp = Blueprint("national", __name__, url_prefix="/national")


@bp.get("/caisses")
@profile_required(Profile.ADMIN_NATIONAL)
def caisses():
    rows = db.session.scalars(db.select(Caisse).order_by(Caisse.name)).all()
    return render_template("national/caisses.html", caisses=rows)


@bp.get("/journal")
@profile_required(Profile.ADMIN_NATIONAL)
def audit():
    return render_template("national/caisses.html", caisses=[])
