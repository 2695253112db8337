"""A second step for the actions that act at once and cannot be undone.

The JS dialog (``data-confirm`` in static/js/app.js) adds ``confirmed=1`` to the
form when the person confirms. A POST that lacks it came without JavaScript:
instead of acting on one click, the server answers a confirmation page that
posts the same form again, with what was typed, plus ``confirmed=1``.
"""
from __future__ import annotations

from flask import make_response, render_template, request

from ep_web.actions import refusal_fragment
from ep_web.htmx import is_partial

FLAG = "confirmed"


def _this_url() -> str:
    """The POST's own address, query string included (``?next=`` for instance)."""
    query = request.query_string.decode("utf-8", "replace")
    return request.path + ("?" + query if query else "")


def is_confirmed() -> bool:
    return request.form.get(FLAG) == "1"


def ask(question: str, *, title: str, button: str, back: str, summary: list[tuple[str, str]] | None = None):
    """The confirmation page (200) of the current POST, or None when it is confirmed.

    ``summary``: what was typed, shown as (label, value) for the person to check.
    An htmx request always comes from the dialog, so one without the flag was
    not confirmed: it gets a message, nothing is done."""
    if is_confirmed():
        return None
    if is_partial():
        return refusal_fragment("Confirmez l'action pour la réaliser.", 422)
    fields = [(name, value) for name, values in request.form.lists() if name not in ("csrf_token", FLAG)
              for value in values]
    return make_response(render_template("confirm.html", question=question, title=title, button=button, back=back,
                                         summary=summary or [], fields=fields, action=_this_url()), 200)
