"""One way to run an action, in every area.

A route validates its form, loads and authorizes its objects (ep_web.permissions),
then hands one domain call to :func:`run`, which

- answers 422 with the form again when the form does not validate;
- runs the call; on a :class:`~ep_web.domain.errors.NotAllowed` rolls back and
  answers 403 with the domain's message; on any other
  :class:`~ep_web.domain.errors.DomainError` rolls back and answers 422 with the
  message next to its field (or at the top of the form when it names none);
- otherwise commits once (e-mails leave after the commit) and answers the
  fragment that changed (htmx) or a 303 to the page with the message flashed.

Routes never catch ``DomainError`` themselves. ``render(status, refusal)`` is
the route's own way of showing the page (or fragment) again: ``refusal`` is the
message that belongs to no field, to be shown at the top (or None).
"""
from __future__ import annotations

from typing import Any, Callable

from flask import flash, make_response, redirect, render_template
from flask_wtf import FlaskForm

from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.forms import attach_error
from ep_web.htmx import is_partial
from ep_web.transaction import commit, rollback

Renderer = Callable[[int, "str | None"], Any]


def _resolve(value, result):
    return value(result) if callable(value) else value


def refusal_fragment(message: str, status: int):
    """The alert an htmx request gets for a refusal it cannot swap in place:
    static/js/app.js moves it into the page's #flash region."""
    response = make_response(render_template("_alert.html", message=message, category="error"), status)
    response.headers["HX-Reswap"] = "none"
    return response


def refuse(exc: DomainError, form: FlaskForm | None, render: Renderer | None):
    """Roll back and answer a refusal: 403 for NotAllowed, 422 for a broken rule."""
    rollback()
    status = 403 if isinstance(exc, NotAllowed) else 422
    on_field = False
    if form is not None:
        on_field = bool(exc.field) and getattr(form, exc.field, None) is not None
        attach_error(form, exc)
    if render is None or (status == 403 and is_partial()):
        return refusal_fragment(exc.message, status)
    # A message on a field is shown by the form; otherwise on top of the page,
    # in #flash (base.html shows `refusal`; a fragment gets it out of band).
    refusal = None if on_field else exc.message
    response = make_response(render(status, refusal))
    if refusal and is_partial():
        response.set_data(response.get_data() + render_template("_flash_oob.html", message=refusal,
                                                                category="error").encode())
    return response


def run(
    call: Callable[[], Any],
    *,
    form: FlaskForm | None = None,
    render: Renderer | None = None,
    success: str | Callable[[Any], str] | None = None,
    then: str | Callable[[Any], str] | None = None,
    fragment: Callable[[Any, str | None], Any] | None = None,
    validate: bool = True,
    done: Callable[[Any], Any] | None = None,
):
    """Run one domain call the same way in every area (see the module docstring).

    ``form``: validated here (CSRF included) unless ``validate`` is False (the
    route validated it already, e.g. to add checks of its own).
    ``render(status, refusal)``: the page or fragment again, for 422/403.
    ``success``: the message after success (a string, or a function of the result).
    ``then``: the 303 target without htmx (a URL, or a function of the result).
    ``fragment(result, message)``: what an htmx request gets after success;
    without one, htmx is sent to ``then`` (HX-Redirect) with the message flashed.
    ``done(result)``: the page answered after success instead of a redirect, for
    what is shown once and must not travel through the session (recovery codes).
    """
    if form is not None and validate and not form.validate_on_submit():
        if render is None:
            return refusal_fragment(first_error(form), 422) if is_partial() else _bad_request()
        return render(422, None)
    try:
        result = call()
    except DomainError as exc:
        return refuse(exc, form, render)
    commit()
    if done is not None:
        return done(result)
    message = _resolve(success, result)
    if is_partial() and fragment is not None:
        response = make_response(fragment(result, message))
        # The header's bell asks for its count again (templates/notifications/_bell.html).
        response.headers["HX-Trigger"] = "ep-bell"
        return response
    if message:
        flash(message, "success")
    target = _resolve(then, result)
    if is_partial():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def first_error(form: FlaskForm) -> str:
    for errors in form.errors.values():
        for error in errors or []:
            if isinstance(error, str):
                return error
    for error in getattr(form, "form_errors", []) or []:
        return error
    return "La demande n'a pas pu être traitée."


def _bad_request():
    from flask import abort

    abort(400)


def page_status(form: FlaskForm) -> int:
    """200 for a form shown the first time, 422 when it came back with errors."""
    return 422 if form.is_submitted() else 200
