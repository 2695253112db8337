"""Server-side sessions (SPEC §3 "Second factor and sessions"): "Logout,
password change and inactivation end every copy of a session; each user sees
and can close their open sessions."

The browser's signed cookie carries a random token (Flask-Login's user id);
the ``user_session`` row holds its SHA-256, the account, when and from where it
started, when it was last seen. A request is logged in only while its row is
open: ending the row ends every copy of the cookie at its next request.
Idle and absolute timeouts (``SESSION_IDLE_MINUTES``, ``SESSION_ABSOLUTE_HOURS``)
are read from the row too.

Like every domain module, this flushes and never commits.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import joinedload

from ep_web.clock import now
from ep_web.domain import audit
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, Caisse, Partenaire, SessionEnd, UserSession

# last_seen_at is written at most this often: the idle timeout is counted in
# minutes, and a GET should not write a row each time.
TOUCH_EVERY = timedelta(minutes=1)
# Ended sessions are kept this long (shown nowhere; for an investigation), then deleted.
KEEP_ENDED = timedelta(days=90)
CHUNK = 500


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def ip_prefix(ip: str) -> str:
    """The network of an address, never the address itself: /24 for IPv4, /48
    for IPv6 ("192.0.2.0/24"). Enough for a user to recognise their office."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


_BROWSERS = (  # order matters: Edge and Opera also say "Chrome", Chrome also says "Safari"
    ("Edg", "Edge"), ("OPR/", "Opera"), ("Opera", "Opera"), ("Firefox/", "Firefox"), ("FxiOS", "Firefox"),
    ("SamsungBrowser", "Samsung Internet"), ("CriOS", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str) -> str:
    """A browser as a person names it: "Firefox sur Windows"."""
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), "")
    system = next((name for token, name in _SYSTEMS if token in ua), "")
    if browser and system:
        return f"{browser} sur {system}"
    return browser or (f"Navigateur sur {system}" if system else "Navigateur inconnu")


def _short_user_agent(user_agent: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "", user_agent or "")[:200]


def _limits() -> tuple[timedelta, timedelta]:
    cfg = current_app.config
    return timedelta(minutes=cfg["SESSION_IDLE_MINUTES"]), timedelta(hours=cfg["SESSION_ABSOLUTE_HOURS"])


def _tidy(account_id: int) -> None:
    """At each login, the account's rows are put in order: sessions left open
    by a browser that never came back end (idle or expired), and ended rows
    older than KEEP_ENDED go. No job needed: the table stays as small as the
    accounts' recent logins."""
    t = now()
    idle, absolute = _limits()
    mine = (UserSession.account_id == account_id, UserSession.ended_at.is_(None))
    for reason, stale in ((SessionEnd.EXPIRED, UserSession.created_at <= t - absolute),
                          (SessionEnd.IDLE, UserSession.last_seen_at <= t - idle)):
        db.session.execute(update(UserSession).where(*mine, stale).values(ended_at=t, end_reason=reason)
                           .execution_options(synchronize_session=False))
    db.session.execute(delete(UserSession).where(UserSession.account_id == account_id,
                                                 UserSession.ended_at < t - KEEP_ENDED)
                       .execution_options(synchronize_session=False))


def open_session(account: Account, *, user_agent: str = "", ip: str = "") -> str:
    """A new open session for ``account``; returns the raw token for the cookie
    (set on the account too, where Flask-Login reads it)."""
    _tidy(account.id)
    raw = secrets.token_urlsafe(32)
    t = now()
    db.session.add(UserSession(token_hash=hash_token(raw), account_id=account.id, created_at=t, last_seen_at=t,
                               user_agent=_short_user_agent(user_agent), ip_prefix=ip_prefix(ip), end_reason=""))
    db.session.flush()
    account.session_token = raw
    return raw


@cache
def _load_select():
    """load's statement, built once per process (every request runs it; its
    joins and loader options cost more to build than to run)."""
    from ep_web.domain.notifications import unread_column
    from ep_web.domain.site_state import versions_columns
    from ep_web.prepared import prepared

    statement = (select(UserSession, Account, *versions_columns(), unread_column(UserSession.account_id, UserSession))
                 .join(Account, Account.id == UserSession.account_id)
                 .where(UserSession.token_hash == bindparam("token_hash"), UserSession.ended_at.is_(None))
                 # Of the account's structure or caisse, only what the header and the
                 # request's checks (second factor of agents) read, in the same query.
                 .options(joinedload(Account.partenaire).load_only(Partenaire.name, Partenaire.suspended_at),
                          joinedload(Account.caisse).load_only(Caisse.name, Caisse.agents_second_factor_required)))
    return prepared(statement)  # PostgreSQL: the same index lookups whatever the token


def load(raw: str | None) -> tuple[Account, UserSession] | None:
    """The account and its open session for a cookie's token, in one query;
    None for an unknown or ended session, or an account that may not be
    logged in any more (inactive, deleted, suspended structure)."""
    if not raw or not isinstance(raw, str) or len(raw) > 100:
        return None
    from ep_web.domain.site_state import Versions
    from ep_web.transaction import read_point

    read_point()  # the bell's count below holds until the request writes
    row = db.session.execute(_load_select(), {"token_hash": hash_token(raw)}).first()
    if row is None:
        return None
    user_session, account, token, cgu, unread = row
    # What every request reads besides the user, in the same round trip
    # (ep_web.maintenance.request_versions takes it from the request), and the
    # header bell's count (good until the request writes: ep_web.transaction.wrote).
    account.request_versions = Versions(token, cgu)
    account.unread_at_load = unread
    if account.status != AccountStatus.ACTIVE or (account.partenaire is not None and account.partenaire.is_suspended):
        return None
    account.session_token = raw
    account.current_session = user_session
    return account, user_session


def timed_out(user_session: UserSession) -> str | None:
    """SPEC §3 timeouts: the reason the session is over (idle, absolute), or None."""
    t = now()
    if t - user_session.created_at > timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"]):
        return SessionEnd.EXPIRED
    if t - user_session.last_seen_at > timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"]):
        return SessionEnd.IDLE
    return None


def idle_seconds_left(user_session: UserSession) -> int:
    """SPEC §3 idle timeout: the seconds before ``user_session`` idles out,
    counted from when it was last seen (the keep-alive modal opens two minutes
    before: static/js/app.js)."""
    idle = int(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    return max(0, min(idle, idle - int((now() - user_session.last_seen_at).total_seconds())))


def touch(user_session: UserSession) -> bool:
    """Mark the session seen now, at most once a minute. True when it wrote."""
    t = now()
    if t - user_session.last_seen_at < TOUCH_EVERY:
        return False
    user_session.last_seen_at = t
    db.session.flush()
    return True


def end(user_session: UserSession, reason: str) -> None:
    if user_session.ended_at is None:
        user_session.ended_at = now()
        user_session.end_reason = reason
        db.session.flush()


def end_sessions(account_ids: Iterable[int], reason: str, *, keep: int | None = None) -> int:
    """End every open session of these accounts (but ``keep``), set-based: one
    UPDATE per CHUNK of accounts. Returns how many ended. Used by password
    changes and by every inactivation path (ep_web.domain.lifecycle)."""
    ids = list(account_ids)
    ended = 0
    for i in range(0, len(ids), CHUNK):
        q = (
            update(UserSession)
            .where(UserSession.account_id.in_(ids[i:i + CHUNK]), UserSession.ended_at.is_(None))
            .values(ended_at=now(), end_reason=reason)
            .execution_options(synchronize_session="fetch")
        )
        if keep is not None:
            q = q.where(UserSession.id != keep)
        ended += db.session.execute(q).rowcount
    return ended


def open_sessions(account: Account) -> list[UserSession]:
    """SPEC §3: the user's open sessions, most recently seen first (not those
    already past their idle or absolute timeout: they can no longer be used)."""
    t = now()
    idle, absolute = _limits()
    return db.session.scalars(
        select(UserSession)
        .where(UserSession.account_id == account.id, UserSession.ended_at.is_(None),
               UserSession.last_seen_at > t - idle, UserSession.created_at > t - absolute)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()


def close_session(actor: Account, user_session: UserSession, current_id: int | None) -> None:
    """SPEC §3: a user closes one of their own other open sessions ("fermer
    cette session"); its cookie, wherever it is, is refused at its next
    request. The session in use ends with « Se déconnecter »."""
    if user_session.account_id != actor.id:
        raise NotAllowed("Cette session n'est pas la vôtre.")
    if user_session.ended_at is not None:
        raise DomainError("Cette session est déjà fermée.")
    if user_session.id == current_id:
        raise DomainError("C'est la session que vous utilisez : pour la fermer, choisissez « Se déconnecter ».")
    end(user_session, SessionEnd.CLOSED)
    audit.record("session_closed", actor, target=actor, sessions=1)


def close_other_sessions(actor: Account, current_id: int) -> int:
    """SPEC §3: "fermer toutes les autres": every open session of the user but
    this one ends. Returns how many."""
    ended = end_sessions([actor.id], SessionEnd.CLOSED, keep=current_id)
    if ended:
        audit.record("session_closed", actor, target=actor, sessions=ended)
    return ended
