"""What the browser's session remembers of a login beyond the server-side
session row (ep_web.domain.sessions): when the person last proved who they are
— a code of their second factor, the password of an account without one, or a
ProConnect login — for the check again before sensitive acts (SPEC §3), and
whether ProConnect vouched for a second factor. A login pending its second
step holds only the account's id and when the password was given, for 5 minutes."""
from datetime import datetime, timedelta

from flask import request, session
from flask_login import login_user

from ep_web.clock import now
from ep_web.domain.second_factor import REAUTH_MINUTES

PENDING = "ep_second_step"
PENDING_MINUTES = 5
AUTH_AT = "ep_auth_at"
# The second factor was satisfied by the identity provider (ProConnect's acr/amr).
MFA_BY_PROVIDER = "ep_mfa_provider"


def start(account, *, mfa_by_provider: bool = False, extra: dict | None = None) -> None:
    """Log in now: a new server-side session (committed: the cookie names it), a
    fresh browser session for the new identity (no fixation)."""
    from ep_web.domain import sessions as server_sessions
    from ep_web.transaction import commit

    server_sessions.open_session(account, user_agent=request.user_agent.string, ip=request.remote_addr or "")
    commit()
    session.clear()
    login_user(account)
    session[AUTH_AT] = now().isoformat()
    if mfa_by_provider:
        session[MFA_BY_PROVIDER] = True
    for key, value in (extra or {}).items():
        session[key] = value


def hold_for_second_step(account, next_url: str | None, extra: dict | None = None) -> None:
    session.clear()
    session[PENDING] = {"id": account.id, "at": now().isoformat(), "next": next_url, "extra": extra or {}}


def pending() -> dict | None:
    """The login waiting for its code, if it is recent enough."""
    held = session.get(PENDING)
    if not isinstance(held, dict):
        return None
    try:
        at = datetime.fromisoformat(held["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if now() - at > timedelta(minutes=PENDING_MINUTES):
        return None
    return held


def mark_strong() -> None:
    session[AUTH_AT] = now().isoformat()


def recent() -> bool:
    """SPEC §3: the last check is at most 15 minutes old."""
    raw = session.get(AUTH_AT)
    if not raw:
        return False
    try:
        at = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return False
    return now() - at <= timedelta(minutes=REAUTH_MINUTES)
