"""French error pages; htmx requests get an HX-Redirect rather than a page inside a fragment."""
from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

bp = Blueprint("errors", __name__)

_TEXTS = {
    400: ("Requête incorrecte", "La demande n'a pas pu être comprise. Revenez à la page précédente et recommencez."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page avec votre profil."),
    404: ("Page introuvable", "La page demandée n'existe pas ou vous n'y avez pas accès."),
    405: ("Action impossible", "Cette action n'est pas possible sur cette page."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille autorisée."),
    500: ("Erreur du service",
          "Une erreur inattendue est survenue. L'équipe technique a été prévenue ; réessayez plus tard."),
    503: ("Service indisponible", "Le service est momentanément indisponible. Réessayez plus tard."),
}


def render_error(code: int, title: str | None = None, message: str | None = None):
    """The French error page; an htmx request gets only the alert, which
    static/js/app.js shows in the page's #flash region."""
    from ep_web.htmx import is_partial

    default_title, default_message = _TEXTS.get(code, _TEXTS[500])
    if is_partial():
        return render_template("_alert.html", category="error", title=title or default_title,
                               message=message or default_message), code
    return (
        render_template("errors/error.html", code=code, title=title or default_title,
                        message=message or default_message),
        code,
    )


def redirect_to_login(message: str):
    flash(message, "info")
    target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return render_error(exc.code or 500)


@bp.app_errorhandler(Exception)
def unexpected(exc: Exception):
    from flask import current_app

    from ep_web.extensions import db

    if current_app.config.get("PROPAGATE_EXCEPTIONS"):
        raise exc
    current_app.logger.exception("unhandled error")
    db.session.rollback()
    return render_error(500)
