"""Who sees a notification (SPEC §6, §8): its recipient only."""
from flask import abort
from flask_login import current_user

from ep_web.extensions import db
from ep_web.models import Account, Notification


def can_view_notification(user: Account, notification: Notification) -> bool:
    return notification.account_id == user.id


def get_notification_or_404(notification_id: int) -> Notification:
    """Another user's notification does not exist for this one."""
    notification = db.session.get(Notification, notification_id)
    if notification is None or not can_view_notification(current_user, notification):
        abort(404)
    return notification
