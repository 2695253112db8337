from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ep_web.auth.forms import CguForm, ChangePasswordForm, ForgotForm, LoginForm, NewPasswordForm
from ep_web.clock import now
from ep_web.domain import audit
from ep_web.domain.accounts import accept_cgu, current_cgu, peek_token, request_password_reset, use_token
from ep_web.domain.auth import authenticate
from ep_web.domain.errors import DomainError
from ep_web.domain.passwords import set_password, verify_password
from ep_web.forms import attach_error
from ep_web.models import TokenPurpose
from ep_web.transaction import commit, rollback

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
        try:
            account = authenticate(form.login.data, form.password.data, ip=request.remote_addr or "")
        except DomainError as exc:
            commit()  # keep the failure count and the audit event
            form.password.data = ""
            attach_error(form, exc)
            return render_template("auth/login.html", form=form), 422
        commit()
        session.clear()  # no fixation: a fresh session for the new identity
        login_user(account)
        session["ep_started"] = session["ep_seen"] = now().isoformat()
        return redirect(_safe_next(request.args.get("next")) or url_for("main.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/deconnexion")
def logout():
    if current_user.is_authenticated:
        audit.record("logout", current_user._get_current_object(), ip=request.remote_addr or "")
        commit()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"), 303)


def _token_page(raw: str, purpose: TokenPurpose, template: str, success: str):
    try:
        token = peek_token(raw, purpose)
    except DomainError as exc:
        return render_template("auth/token_invalid.html", message=exc.message), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            use_token(raw, purpose, form.password.data)
        except DomainError as exc:
            rollback()
            attach_error(form, exc)
            return render_template(template, form=form, account=token.account), 422
        commit()
        logout_user()
        session.clear()
        flash(success, "success")
        return redirect(url_for("auth.login"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template(template, form=form, account=token.account), status


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
        request_password_reset(form.login.data, ip=request.remote_addr or "")
        commit()
        # Same answer whether or not the account exists.
        flash("Si un compte actif correspond, un e-mail avec un lien de réinitialisation vient d'être envoyé. "
              f"Le lien est valable {current_app.config['RESET_TOKEN_MINUTES']} minutes.", "info")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/forgot.html", form=form), 422 if form.is_submitted() else 200


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    account = current_user._get_current_object()
    if form.validate_on_submit():
        if not verify_password(account.password_hash, form.current.data):
            form.current.errors = ["Mot de passe actuel incorrect."]
            return render_template("auth/change_password.html", form=form), 422
        try:
            set_password(account, form.password.data)
            audit.record("password_changed", account, target=account, ip=request.remote_addr or "")
        except DomainError as exc:
            rollback()
            attach_error(form, exc)
            return render_template("auth/change_password.html", form=form), 422
        commit()
        # The nonce rotated: log this session in again, others end.
        started = session.get("ep_started")
        login_user(account)
        session["ep_started"] = started or now().isoformat()
        flash("Votre mot de passe est changé.", "success")
        return redirect(url_for("main.index"), 303)
    return render_template("auth/change_password.html", form=form), 422 if form.is_submitted() else 200


@bp.route("/cgu", methods=["GET", "POST"])
@login_required
def cgu():
    cgu_version = current_cgu()
    if cgu_version is None:
        return redirect(url_for("main.index"))
    form = CguForm(version=str(cgu_version.version))
    if form.validate_on_submit():
        try:
            accept_cgu(current_user._get_current_object(), int(form.version.data or 0))
        except (DomainError, ValueError) as exc:
            rollback()
            flash(getattr(exc, "message", "Relisez les conditions."), "warning")
            return redirect(url_for("auth.cgu"), 303)
        commit()
        return redirect(_safe_next(request.args.get("next")) or url_for("main.index"), 303)
    return render_template("auth/cgu.html", form=form, cgu=cgu_version), 422 if form.is_submitted() else 200


@bp.get("/cgu/texte")
def cgu_text():
    cgu_version = current_cgu()
    if cgu_version is None:
        abort(404)
    return render_template("auth/cgu_text.html", cgu=cgu_version)
