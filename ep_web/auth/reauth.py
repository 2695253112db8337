"""Asked again before sensitive acts (SPEC §3): fraud inactivation, partner
suspension, account creation, gestionnaire changes, exports, second-factor
resets, when the last check is older than 15 minutes.

A POST caught here is answered with a page asking for the code (or the
password of an account without a second factor) that carries everything the
person typed in hidden fields and posts it all back to the same URL: once the
code is right, the action runs with what they typed, as if never interrupted.
Nothing typed is stored on the server or in the cookie. A GET (an export) goes
through the confirmation page and comes back to its URL.
"""
from functools import wraps

from flask import make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ep_web.auth import sessions
from ep_web.auth.forms import ReauthForm
from ep_web.domain import auth as domain
from ep_web.htmx import is_partial
from ep_web.transaction import commit

# Not carried back: the CSRF token (the confirmation form has its own) and the form's own fields.
_NOT_CARRIED = {"csrf_token", "ep_reauth", "ep_reauth_secret"}


def carried_fields() -> list[tuple[str, str]]:
    return [(name, value) for name, values in request.form.lists() if name not in _NOT_CARRIED
            for value in values]


def page_context(form: ReauthForm, carried: list) -> dict:
    """The question's template context: a code, or the password of an account without a factor."""
    has_factor = current_user.has_second_factor
    if not has_factor:
        form.ep_reauth_secret.label.text = "Mot de passe"
    return dict(form=form, carried=carried, action=request.full_path.rstrip("?"), has_factor=has_factor)


def _interstitial(form: ReauthForm, status: int):
    context = page_context(form, carried_fields())
    if is_partial():
        # An htmx form: the question replaces the page's content; its form is a
        # plain one, answered with a full page (every route works without htmx).
        response = make_response(render_template("auth/_reauth.html", **context), status)
        response.headers["HX-Retarget"] = "#contenu"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return make_response(render_template("auth/reauth.html", **context), status)


def recent_auth_required(view=None, *, methods: tuple[str, ...] = ("POST",)):
    """Decorate a route (after its login/profile check) whose ``methods`` are sensitive acts."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if request.method not in methods or not current_user.is_authenticated or sessions.recent():
                return view(*args, **kwargs)
            if request.method != "POST":
                return redirect(url_for("auth.reauth", next=request.full_path.rstrip("?")))
            if "ep_reauth" not in request.form:
                return _interstitial(ReauthForm(formdata=None), 200)
            form = ReauthForm()
            if not form.validate_on_submit():
                return _interstitial(form, 422)
            refusal = domain.attempt_reauth(current_user._get_current_object(), form.ep_reauth_secret.data or "",
                                            ip=request.remote_addr or "")
            commit()  # the failure count (or the audit of the success) is kept either way
            if refusal is not None:
                form.ep_reauth_secret.errors = [refusal]
                return _interstitial(form, 422)
            sessions.mark_strong()
            return view(*args, **kwargs)

        return wrapped

    return decorator(view) if view is not None else decorator
