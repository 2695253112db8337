"""A user's own account pages (SPEC §3 sessions): each sees and closes only
their own sessions."""
from flask import abort
from flask_login import current_user

from ep_web.extensions import db
from ep_web.models import UserSession


def can_close_session(user, user_session: UserSession) -> bool:
    return user_session.account_id == user.id and user_session.ended_at is None


def get_session_or_404(session_id: int) -> UserSession:
    """One of the current user's open sessions; anyone else's (or an ended one) is a 404."""
    user_session = db.session.get(UserSession, session_id)
    if user_session is None or not can_close_session(current_user, user_session):
        abort(404)
    return user_session
