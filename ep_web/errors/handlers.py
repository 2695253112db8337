"""French error pages; htmx requests get an HX-Redirect rather than a page inside a fragment.

The 500 and 503 pages never need the database (nor the session): they are
what a user sees when the database is what failed. They are rendered from a
stand-alone template with the user treated as anonymous, list the caisses'
"autre canal" from a cache (ep_web.availability), and tell a user whose
form was not saved how to get their input back.
"""
import logging

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

bp = Blueprint("errors", __name__)
log = logging.getLogger(__name__)

_TEXTS = {
    400: ("Requête incorrecte", "La demande n'a pas pu être comprise. Revenez à la page précédente et recommencez."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page avec votre profil."),
    404: ("Page introuvable", "La page demandée n'existe pas ou vous n'y avez pas accès."),
    405: ("Action impossible", "Cette action n'est pas possible sur cette page."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille autorisée."),
    500: ("Erreur du service",
          "Une erreur inattendue est survenue. L'équipe technique a été prévenue ; réessayez plus tard."),
    503: ("Service indisponible", "Le service est momentanément indisponible. Réessayez dans quelques minutes."),
}
DATABASE_DOWN = ("Service momentanément indisponible",
                 "La base de données du portail ne répond pas. Réessayez dans quelques minutes ; "
                 "en cas d'urgence, contactez votre caisse par son autre canal.")
LOST_INPUT = "Votre saisie n'a pas été enregistrée : revenez à la page précédente pour la retrouver."
RETRY_AFTER_S = 60
# The last resort, when even the stand-alone template cannot be rendered.
_FALLBACK = ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{title} — Espace Partenaires"
             "</title></head><body><h1>{title}</h1><p>{message}</p>{lost}</body></html>")


def _database_errors() -> tuple:
    import psycopg
    from sqlalchemy import exc

    return (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError,
            psycopg.OperationalError)


def is_database_down(exc: BaseException) -> bool:
    return isinstance(exc, _database_errors())


def render_error(code: int, title: str | None = None, message: str | None = None):
    """The French error page; an htmx request gets only the alert, which
    static/js/app.js shows in the page's #flash region."""
    from ep_web.htmx import is_partial

    default_title, default_message = _TEXTS.get(code, _TEXTS[500])
    title, message = title or default_title, message or default_message
    if code >= 500:
        return render_unavailable(code, title, message)
    try:
        if is_partial():
            return render_template("_alert.html", category="error", title=title, message=message), code
        return render_template("errors/error.html", code=code, title=title, message=message), code
    except Exception as exc:  # the page's menu or banner needs the database, which is gone
        if not is_database_down(exc):
            raise
        from ep_web.extensions import db

        try:
            db.session.rollback()
        except Exception:
            pass
        return render_unavailable(code, title, message)


def render_unavailable(code: int, title: str, message: str):
    """The 500/503 page, without the database: see the module docstring."""
    from flask_login import AnonymousUserMixin

    from ep_web.availability import cached_channels
    from ep_web.htmx import is_partial

    # Read by the context processors (menu, maintenance banner) and by
    # Flask-Login's, which would otherwise load the user from the database.
    g.ep_bare = True
    if "_login_user" not in g:
        g._login_user = AnonymousUserMixin()
    lost = LOST_INPUT if request.method not in ("GET", "HEAD", "OPTIONS") else ""
    try:
        if is_partial():
            html = render_template("_alert.html", category="error", title=title,
                                   message=f"{message} {lost}".strip())
        else:
            html = render_template("errors/bare.html", code=code, title=title, message=message, lost_input=lost,
                                   channels=cached_channels() if code == 503 else [])
    except Exception:
        log.exception("the error page itself failed; plain fallback")
        html = _FALLBACK.format(title=title, message=message, lost=f"<p>{lost}</p>" if lost else "")
    response = make_response(html, code)
    if code == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def redirect_to_login(message: str | None):
    """To the login page, back here afterwards. A first visit of the home page
    is no error: it gets the login page without a message."""
    if message:
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


def _file_not_servable(exc):
    """A file waiting for its scan, infected or unscanned (SPEC §4, §8): the
    reason in French, 409."""
    return render_error(409, "Fichier indisponible", exc.message)


def register_file_errors(app) -> None:
    from ep_web.domain.attachments import FileNotServable

    app.register_error_handler(FileNotServable, _file_not_servable)


@bp.app_errorhandler(Exception)
def unexpected(exc: Exception):
    from flask import current_app

    from ep_web.extensions import db

    if current_app.config.get("PROPAGATE_EXCEPTIONS"):
        raise exc
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: nothing to roll back
        pass
    if is_database_down(exc):
        current_app.logger.error("database unavailable: %s: %s", type(exc).__name__, str(exc).splitlines()[0])
        return render_error(503, *DATABASE_DOWN)
    current_app.logger.exception("unhandled error")
    return render_error(500)
