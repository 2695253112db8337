from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from ep_web.domain.access import conventions_in_force
from ep_web.models import Profile

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def index():
    profile = current_user.profile
    if profile == Profile.GESTIONNAIRE:
        return redirect(url_for("gestion.index"))
    if profile == Profile.ADMIN_CAISSE:
        return redirect(url_for("caisse.partenaires"))
    if profile == Profile.AGENT:
        return redirect(url_for("traitement.index"))
    if profile == Profile.ADMIN_NATIONAL:
        return redirect(url_for("national.caisses"))
    if profile == Profile.TECHNICIEN:
        conventions = sorted(conventions_in_force(current_user.partenaire_id), key=lambda c: c.caisse.name)
        return render_template("main/technicien.html", conventions=conventions)
    abort(404)
