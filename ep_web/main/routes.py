"""The home page of every profile: « À traiter » (SPEC §6), counters that link
to the filtered lists."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ep_web.domain import home
from ep_web.domain.access import conventions_in_force
from ep_web.models import Profile

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def index():
    user = current_user._get_current_object()
    ctx = {"counters": home.counters(user)}
    if user.profile == Profile.TECHNICIEN:
        ctx["conventions"] = sorted(conventions_in_force(user.partenaire_id), key=lambda c: c.caisse.name)
    return render_template("main/home.html", **ctx)
