"""What the Flask session remembers of a login (SPEC §3): when it started, when
it was last seen (idle and absolute limits, ep_web/__init__.py), and when the
person last proved who they are — a code of their second factor, or the
password of an account without one, or a ProConnect login — for the check again
before sensitive acts. The login itself is a server-side session
(ep_web.domain.sessions): a row of ``user_session`` named by the cookie. A login
pending its second step holds only the account's id and the time its password
last changed, for 5 minutes."""
from datetime import datetime, timedelta

from flask import request, session
from flask_login import login_user

from ep_web.clock import now
from ep_web.domain.second_factor import REAUTH_MINUTES
from ep_web.domain.sessions import open_session

PENDING = "ep_second_step"
PENDING_MINUTES = 5
AUTH_AT = "ep_auth_at"
# The second factor was satisfied by the identity provider (ProConnect's acr/amr).
MFA_BY_PROVIDER = "ep_mfa_provider"


def start(account, *, mfa_by_provider: bool = False, extra: dict | None = None) -> None:
    """A fresh session for the new identity (no fixation), logged in now: a
    server-side session row (committed here: the cookie names it from the next
    request on), then the browser's."""
    from ep_web.transaction import commit

    open_session(account, user_agent=request.user_agent.string, ip=request.remote_addr or "")
    commit()
    session.clear()
    login_user(account)
    stamp = now().isoformat()
    session[AUTH_AT] = stamp
    if mfa_by_provider:
        session[MFA_BY_PROVIDER] = True
    for key, value in (extra or {}).items():
        session[key] = value


def hold_for_second_step(account, next_url: str | None, extra: dict | None = None) -> None:
    session.clear()
    session[PENDING] = {"id": account.id, "nonce": password_stamp(account), "at": now().isoformat(),
                        "next": next_url, "extra": extra or {}}


def password_stamp(account) -> str:
    """Changes when the password does: a login held for its second step is void
    after a password change (a reset from elsewhere)."""
    return account.password_changed_at.isoformat() if account.password_changed_at else ""


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
