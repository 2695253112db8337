"""The notification centre, the header's bell and « Mon compte » (SPEC §6).

« Mon compte » (ep_web/compte) links to the preferences. The bell asks
``/notifications/compteur?vu=N`` every minute (and after an htmx action): 204
when the count is still N, so an idle page costs one indexed count and no swap."""
from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ep_web.actions import run
from ep_web.domain import notifications as notif
from ep_web.htmx import render_page_or_fragment
from ep_web.notifications.forms import ActionForm, preferences_form
from ep_web.permissions.notifications import get_notification_or_404
from ep_web.transaction import commit

bp = Blueprint("notifications", __name__)


def _actor():
    return current_user._get_current_object()


@bp.get("/notifications")
@login_required
def index():
    """SPEC §6: the user's notifications, newest first, unread ones marked."""
    unread_only = request.args.get("non_lues") == "1"
    page_no = max(1, min(request.args.get("page", 1, type=int) or 1, 1000))
    rows, has_more = notif.page(_actor(), page_no, unread_only)
    return render_page_or_fragment("notifications/index.html", "notifications/_list.html", rows=rows,
                                   has_more=has_more, page_no=page_no, unread_only=unread_only,
                                   unread=notif.unread_count(_actor()), form=ActionForm())


@bp.get("/notifications/compteur")
@login_required
def bell():
    """The bell alone: 204 when the count the page shows (``vu``) is unchanged."""
    count = notif.unread_count(_actor())
    seen = request.args.get("vu", "")
    if seen.isdigit() and int(seen) == count:
        return "", 204
    return render_template("notifications/_bell.html", bell_count=count)


@bp.get("/notifications/<int:notification_id>")
@login_required
def open_notification(notification_id: int):
    """Opening a notification reads it and leads to its object."""
    row = get_notification_or_404(notification_id)
    notif.mark_read(_actor(), row)
    commit()
    return redirect(row.link if row.link.startswith("/") and not row.link.startswith("//") else url_for("main.index"))


@bp.post("/notifications/tout-lu")
@login_required
def mark_all_read():
    """SPEC §6 « Tout marquer comme lu »."""
    form = ActionForm()
    return run(lambda: notif.mark_all_read(_actor()), form=form,
               success=lambda n: "Toutes vos notifications sont marquées comme lues." if n
               else "Vous n'aviez aucune notification non lue.",
               then=url_for("notifications.index"))


@bp.route("/compte/notifications", methods=["GET", "POST"])
@login_required
def preferences():
    """« Mon compte » › notifications: e-mail preferences per kind of event (SPEC §6)."""
    user = _actor()
    current = notif.preferences(user)
    form = preferences_form(user.profile.value, current, request.form if request.method == "POST" else None)

    def render(status: int, refusal: str | None = None):
        return make_response(render_template("notifications/preferences.html", form=form, refusal=refusal), status)

    if request.method == "GET":
        return render(200)
    return run(lambda: notif.set_preferences(user, {f.name[5:]: f.data for f in form.kinds}), form=form,
               render=render, success="Vos préférences de notification sont enregistrées.",
               then=url_for("notifications.preferences"))
