from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from limits import parse

from ep_web.actions import run
from ep_web.auth.forms import CguForm, ChangePasswordForm, ForgotForm, LoginForm, NewPasswordForm
from ep_web.domain import audit, sessions
from ep_web.domain import auth as domain
from ep_web.domain.accounts import accept_cgu, current_cgu, use_token
from ep_web.extensions import rate_limits
from ep_web.jobs import enqueue_after_response
from ep_web.models import SessionEnd, TokenPurpose
from ep_web.permissions.auth import get_token_or_410
from ep_web.transaction import commit

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        attempt = domain.attempt_login(form.login.data, form.password.data, ip=request.remote_addr or "")
        if attempt.account is not None:
            sessions.open_session(attempt.account, user_agent=request.user_agent.string, ip=request.remote_addr or "")
        # Not the action runner: a refused login is kept (failure count, lock,
        # audit event), so this commits whatever the outcome.
        commit()
        if attempt.account is None:
            form.password.data = ""
            form.form_errors = [attempt.refusal]
            return render_template("auth/login.html", form=form), 422
        session.clear()  # no fixation: a fresh session for the new identity
        login_user(attempt.account)
        return redirect(_safe_next(request.args.get("next")) or url_for("main.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/deconnexion")
def logout():
    _end_session()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"), 303)


def _end_server_session() -> None:
    """The logged-in session's row ends (flushed, not committed): every copy of
    the cookie is refused from now on (SPEC §3)."""
    if current_user.is_authenticated:
        account = current_user._get_current_object()
        sessions.end(account.current_session, SessionEnd.LOGOUT)
        audit.record("logout", account, ip=request.remote_addr or "")


def _end_session() -> None:
    """Log out: the server-side session ends, then the browser's."""
    _end_server_session()
    commit()
    logout_user()
    session.clear()


def _token_page(raw: str, purpose: TokenPurpose, template: str, success: str):
    token = get_token_or_410(raw, purpose)
    form = NewPasswordForm()

    def render(status: int, refusal: str | None = None):
        return render_template(template, form=form, account=token.account), status

    if not form.is_submitted():
        return render(200)

    def call():
        use_token(raw, purpose, form.password.data)
        # Whoever was logged in on this browser is not the account that chose a
        # password: log in again with it (the success message survives the clear).
        _end_server_session()
        logout_user()
        session.clear()

    return run(call, form=form, render=render, success=success, then=url_for("auth.login"))


@bp.route("/activation/<token>", methods=["GET", "POST"])
def activate(token: str):
    return _token_page(token, TokenPurpose.ACTIVATION, "auth/activate.html",
                       "Votre compte est activé. Connectez-vous avec votre identifiant et votre mot de passe.")


@bp.route("/mot-de-passe/reinitialiser/<token>", methods=["GET", "POST"])
def reset(token: str):
    return _token_page(token, TokenPurpose.RESET, "auth/reset.html",
                       "Votre mot de passe est changé. Connectez-vous avec le nouveau.")


@bp.route("/mot-de-passe/oubli", methods=["GET", "POST"])
def forgot():
    form = ForgotForm()
    if form.validate_on_submit():
        if not rate_limits().hit(parse(current_app.config["RESET_ADDRESS_LIMIT"]), "password-reset",
                                 request.remote_addr or ""):
            form.form_errors = ["Trop de demandes depuis votre réseau. Réessayez dans quelques minutes."]
            return render_template("auth/forgot.html", form=form), 429
        # The lookup and the e-mail happen out of the request: same answer, same
        # time, whether or not the account exists (SPEC §3).
        enqueue_after_response("workers.accounts.send_password_reset", form.login.data, request.remote_addr or "")
        flash("Si un compte actif correspond, un e-mail avec un lien de réinitialisation vient d'être envoyé. "
              f"Le lien est valable {current_app.config['RESET_TOKEN_MINUTES']} minutes.", "info")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/forgot.html", form=form), 422 if form.is_submitted() else 200


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    account = current_user._get_current_object()

    def render(status: int, refusal: str | None = None):
        return render_template("auth/change_password.html", form=form), status

    if not form.is_submitted():
        return render(200)

    def call():
        # This session stays open; every other one ends (SPEC §3).
        domain.change_password(account, form.current.data, form.password.data, ip=request.remote_addr or "",
                               keep_session=account.current_session.id)

    return run(call, form=form, render=render, success="Votre mot de passe est changé.", then=url_for("main.index"))


def _version(raw: str | None) -> int:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0


@bp.route("/cgu", methods=["GET", "POST"])
@login_required
def cgu():
    cgu_version = current_cgu()
    if cgu_version is None:
        return redirect(url_for("main.index"))
    form = CguForm(version=str(cgu_version.version))

    def render(status: int, refusal: str | None = None):
        if refusal:
            # The text changed under the reader: the new version is to be read and ticked anew.
            form.version.data = str(cgu_version.version)
            form.accept.data = False
        return render_template("auth/cgu.html", form=form, cgu=cgu_version, refusal=refusal), status

    if not form.is_submitted():
        return render(200)
    return run(lambda: accept_cgu(current_user._get_current_object(), _version(form.version.data)),
               form=form, render=render, then=_safe_next(request.args.get("next")) or url_for("main.index"))


@bp.get("/cgu/texte")
def cgu_text():
    cgu_version = current_cgu()
    if cgu_version is None:
        abort(404)
    return render_template("auth/cgu_text.html", cgu=cgu_version)
