from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from limits import parse

from ep_web.actions import run
from ep_web.auth import sessions
from ep_web.auth.forms import CguForm, ChangePasswordForm, CodeForm, ForgotForm, LoginForm, NewPasswordForm, ReauthForm
from ep_web.domain import audit
from ep_web.domain import auth as domain
from ep_web.domain import sessions as server_sessions
from ep_web.domain.accounts import accept_cgu, current_cgu, use_token
from ep_web.extensions import rate_limits
from ep_web.jobs import enqueue_after_response
from ep_web.models import Account, SessionEnd, TokenPurpose
from ep_web.permissions.auth import get_token_or_410, pending_account_of
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
        # Not the action runner: a refused login is kept (failure count, lock,
        # audit event), so this commits whatever the outcome.
        commit()
        if attempt.account is None:
            form.password.data = ""
            form.form_errors = [attempt.refusal]
            return _login_page(form, 422)
        next_url = _safe_next(request.args.get("next"))
        if attempt.second_step:
            sessions.hold_for_second_step(attempt.account, next_url)
            return redirect(url_for("auth.second_step"))
        sessions.start(attempt.account)
        return redirect(next_url or url_for("main.index"))
    return _login_page(form, 422 if form.is_submitted() else 200)


def _login_page(form, status: int):
    from ep_web import proconnect

    return render_template("auth/login.html", form=form, proconnect=proconnect.enabled()), status


def _pending_account() -> Account | None:
    held = sessions.pending()
    if held is None:
        return None
    account = pending_account_of(held.get("id"))
    if account is None or sessions.password_stamp(account) != held.get("nonce"):
        return None
    return account


@bp.route("/connexion/code", methods=["GET", "POST"])
def second_step():
    """SPEC §3: the second factor's code after the password (or a recovery code)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    account = _pending_account()
    if account is None:
        session.pop(sessions.PENDING, None)
        flash("Votre connexion a expiré avant la saisie du code. Reconnectez-vous.", "warning")
        return redirect(url_for("auth.login"), 303)
    form = CodeForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("auth/second_step.html", form=form, login=account.login), status
    held = sessions.pending()
    attempt = domain.attempt_second_step(account, form.code.data, ip=request.remote_addr or "")
    commit()  # failures and locks are the throttle's memory
    if attempt.account is None:
        form.code.data = ""
        form.code.errors = [attempt.refusal]
        return render_template("auth/second_step.html", form=form, login=account.login), 422
    sessions.start(account, mfa_by_provider=False, extra=held.get("extra"))
    return redirect(_safe_next(held.get("next")) or url_for("main.index"), 303)


@bp.get("/connexion/proconnect")
def proconnect_login():
    """SPEC §3: to ProConnect (authorization code flow, PKCE, state and nonce)."""
    from ep_web import proconnect

    if not proconnect.enabled():
        abort(404)
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    session["ep_proconnect_next"] = _safe_next(request.args.get("next"))
    response = proconnect.authorize_redirect()
    if response is None:
        form = LoginForm(formdata=None)
        form.form_errors = [proconnect.UNREACHABLE]
        return _login_page(form, 503)
    return response


@bp.get("/connexion/proconnect/retour")
def proconnect_callback():
    """SPEC §3: back from ProConnect; an existing, active account only."""
    from ep_web import proconnect

    if not proconnect.enabled():
        abort(404)
    next_url = _safe_next(session.pop("ep_proconnect_next", None))
    identity = proconnect.finish()
    if identity.refusal is None:
        attempt = domain.proconnect_login(identity.sub, identity.email, identity.mfa, ip=request.remote_addr or "")
        commit()  # the link to the subject, or the refusal's audit
    else:
        attempt = domain.LoginAttempt(None, identity.refusal)
    if attempt.account is None:
        form = LoginForm(formdata=None)
        form.form_errors = [attempt.refusal]
        return _login_page(form, 403)
    extra = {proconnect.ID_TOKEN_KEY: identity.id_token}
    if attempt.second_step:
        sessions.hold_for_second_step(attempt.account, next_url, extra=extra)
        return redirect(url_for("auth.second_step"))
    sessions.start(attempt.account, mfa_by_provider=identity.mfa, extra=extra)
    return redirect(next_url or url_for("main.index"))


@bp.route("/connexion/confirmer", methods=["GET", "POST"])
@login_required
def reauth():
    """SPEC §3: the check again before a sensitive act reached by a link (an export)."""
    next_url = _safe_next(request.args.get("next")) or url_for("main.index")
    from ep_web.auth.reauth import page_context

    form = ReauthForm()
    if not form.validate_on_submit():
        return render_template("auth/reauth.html", **page_context(form, [])), 422 if form.is_submitted() else 200
    refusal = domain.attempt_reauth(current_user._get_current_object(), form.ep_reauth_secret.data or "",
                                    ip=request.remote_addr or "")
    commit()
    if refusal is not None:
        form.ep_reauth_secret.errors = [refusal]
        return render_template("auth/reauth.html", **page_context(form, [])), 422
    sessions.mark_strong()
    return redirect(next_url, 303)


@bp.post("/deconnexion")
def logout():
    from ep_web import proconnect

    # A ProConnect session is ended at the provider too, which sends the browser back here.
    end_session_url = proconnect.end_session_url() if current_user.is_authenticated else None
    _end_session()
    flash("Vous êtes déconnecté.", "info")
    return redirect(end_session_url or url_for("auth.login"), 303)


def _end_server_session() -> None:
    """The logged-in session's row ends (flushed, not committed): every copy of
    the cookie is refused from now on (SPEC §3)."""
    if current_user.is_authenticated:
        account = current_user._get_current_object()
        server_sessions.end(account.current_session, SessionEnd.LOGOUT)
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
        sessions.mark_strong()  # the current password was just given

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
