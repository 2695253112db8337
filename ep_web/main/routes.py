"""The home page of every profile: « À traiter » (SPEC §6), counters that link
to the filtered lists."""
from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ep_web.domain import home
from ep_web.domain.access import conventions_and_hidden
from ep_web.models import Profile

bp = Blueprint("main", __name__)


@bp.get("/")
@login_required
def index():
    user = current_user._get_current_object()
    if user.profile == Profile.TECHNICIEN:
        # The caisse cards and the counters' scope in one query.
        conventions, hidden = conventions_and_hidden(user.partenaire_id)
        ctx = {"counters": home.technicien_home(user, hidden),
               "conventions": sorted(conventions, key=lambda c: c.caisse.name)}
    else:
        ctx = {"counters": home.counters(user)}
    return render_template("main/home.html", **ctx)
