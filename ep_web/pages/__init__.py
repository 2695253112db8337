"""The pages every State service publishes, linked from the footer: the
accessibility statement (RGAA 4.1 form), the legal notice, the personal-data
notice (RGPD art. 13/14, with the retention periods as configured) and the
site map. Public: readable before logging in."""
from flask import Blueprint, current_app, render_template
from flask_login import current_user

from ep_web.nav import nav_items

bp = Blueprint("pages", __name__)


@bp.get("/accessibilite")
def accessibilite():
    return render_template("pages/accessibilite.html")


@bp.get("/mentions-legales")
def mentions_legales():
    return render_template("pages/mentions_legales.html")


@bp.get("/donnees-personnelles")
def donnees_personnelles():
    config = current_app.config
    periods = {
        "retention_years": round(config["RETENTION_DAYS"] / 365, 1),
        "retention_days": config["RETENTION_DAYS"],
        "idle_months": round(config["IDLE_INACTIVATION_DAYS"] / 30.4),
        "deletion_months": round(config["DELETION_AFTER_INACTIVE_DAYS"] / 30.4),
        "session_minutes": config["SESSION_IDLE_MINUTES"],
    }
    return render_template("pages/donnees_personnelles.html", periods=periods)


@bp.get("/plan-du-site")
def plan_du_site():
    entries = nav_items() if current_user.is_authenticated else []
    return render_template("pages/plan_du_site.html", entries=entries)
