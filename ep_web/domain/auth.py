"""Login with throttling (SPEC §3). The error never tells whether the login exists."""
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ep_web.clock import now
from ep_web.domain import audit
from ep_web.domain.errors import DomainError
from ep_web.domain.passwords import set_password, verify_password
from ep_web.extensions import db
from ep_web.models import Account, AccountStatus, LoginThrottle

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
LOCKED = "Trop de tentatives infructueuses. Réessayez dans {minutes} minutes ou utilisez « Mot de passe oublié »."
INACTIVE = "Identifiant ou mot de passe incorrect, ou compte inactif. En cas de doute, contactez votre gestionnaire."
# Per-IP ceiling, well above one user's mistakes, against spraying many logins.
IP_FACTOR = 4


def _throttle(key: str) -> LoginThrottle:
    """The counter row of a key, created if missing by an INSERT that ignores a
    row created meanwhile: the first two logins from one address at the same
    moment (two web servers, two threads) must not fail on the unique key."""
    row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
    if row is None:
        if db.session.get_bind().dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        db.session.execute(insert(LoginThrottle).values(key=key, failures=0, window_started_at=now())
                           .on_conflict_do_nothing(index_elements=[LoginThrottle.key]))
        row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.key == key))
    return row


def _locked(row: LoginThrottle) -> bool:
    return row.locked_until is not None and row.locked_until > now()


def _fail(row: LoginThrottle, limit: int) -> bool:
    """Count one failure; lock when the limit is reached. True if now locked."""
    window = timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    if row.window_started_at + window < now() and not _locked(row):
        row.failures = 0
        row.window_started_at = now()
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now() + window
        row.failures = 0
        row.window_started_at = now()
        return True
    return False


@dataclass
class LoginAttempt:
    """The outcome of a login: the account, or the message to show. A refused
    attempt is not rolled back: its failure count, lock and audit event are the
    throttle's memory (SPEC §3), so the caller commits in both cases."""

    account: Account | None
    refusal: str | None = None


def attempt_login(login: str, password: str, ip: str = "") -> LoginAttempt:
    """SPEC §3: the account if the credentials are right and the account may log
    in. Repeated failures lock the identifier for a while — whether or not it
    exists, so the answer never tells."""
    login = (login or "").strip().upper()[:60]
    max_failures = current_app.config["LOGIN_MAX_FAILURES"]
    minutes = current_app.config["LOGIN_LOCK_MINUTES"]
    login_row = _throttle(f"login:{login}")
    ip_row = _throttle(f"ip:{ip}") if ip else None
    if _locked(login_row) or (ip_row is not None and _locked(ip_row)):
        verify_password(None, password)  # same time as a real attempt
        return LoginAttempt(None, LOCKED.format(minutes=minutes))

    account = db.session.scalar(select(Account).where(Account.login == login)) if login else None
    ok = verify_password(account.password_hash if account else None, password)
    if not ok:
        locked = _fail(login_row, max_failures)
        if ip_row is not None:
            locked = _fail(ip_row, max_failures * IP_FACTOR) or locked
        audit.record("login_failed", account, ip=ip, actor_login=login[:60])
        if locked:
            audit.record("login_locked", account, ip=ip, actor_login=login[:60])
            return LoginAttempt(None, LOCKED.format(minutes=minutes))
        return LoginAttempt(None, BAD_CREDENTIALS)

    if account.status != AccountStatus.ACTIVE or (account.partenaire is not None and account.partenaire.is_suspended):
        audit.record("login_failed", account, ip=ip, why="inactive")
        return LoginAttempt(None, INACTIVE)
    login_row.failures = 0
    account.last_login_at = now()
    account.idle_warning_sent_at = None
    audit.record("login", account, target=account, ip=ip)
    return LoginAttempt(account)


def authenticate(login: str, password: str, ip: str = "") -> Account:
    """SPEC §3: :func:`attempt_login` for callers that want the account or a
    DomainError with the message to show."""
    attempt = attempt_login(login, password, ip)
    if attempt.account is None:
        raise DomainError(attempt.refusal)
    return attempt.account


def change_password(account: Account, current: str, new: str, ip: str = "") -> None:
    """SPEC §3 Passwords: a logged-in user changes their password by giving the
    current one; the new one follows the rules (set_password). Audited (SPEC §7)."""
    if not verify_password(account.password_hash, current or ""):
        raise DomainError("Mot de passe actuel incorrect.", "current")
    set_password(account, new)
    audit.record("password_changed", account, target=account, ip=ip)
