"""Login with throttling (SPEC §3). The error never tells whether the login exists."""
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from limits import parse
from sqlalchemy import select

from ep_web.clock import now
from ep_web.domain import audit
from ep_web.domain.errors import DomainError
from ep_web.domain.passwords import set_password, verify_password
from ep_web.extensions import db, rate_limits
from ep_web.models import Account, AccountStatus, LoginThrottle

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."
LOCKED = "Trop de tentatives infructueuses. Réessayez dans {minutes} minutes ou utilisez « Mot de passe oublié »."
# Per network address: the same words whether or not the login exists.
ADDRESS_PACED = ("Trop de tentatives infructueuses depuis votre réseau. Vérifiez votre identifiant et votre mot de "
                 "passe, puis réessayez dans {seconds} secondes.")
ADDRESS_KEY = "login-failures"

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- per network address (Flask-Limiter's storage)

def _address_limits():
    cfg = current_app.config
    return parse(cfg["LOGIN_ADDRESS_LIMIT"]), parse(cfg["LOGIN_ADDRESS_SLOW"]), parse(cfg["LOGIN_ADDRESS_PACE"])


def address_wait(ip: str) -> int:
    """SPEC §3 throttling, per address: seconds before the next *failed*
    attempt from ``ip`` is answered as such (0: now). Past LOGIN_ADDRESS_SLOW
    failures the address is paced (LOGIN_ADDRESS_PACE); past
    LOGIN_ADDRESS_LIMIT it waits until its window moves. Never consulted for a
    right password: an address shared by a whole office (a NAT, a proxy) must
    not lock its users out."""
    if not ip:
        return 0
    hard, slow, pace = _address_limits()
    try:
        strategy = rate_limits()
        for limit, applies in ((hard, True), (pace, not strategy.test(slow, ADDRESS_KEY, ip))):
            if applies and not strategy.test(limit, ADDRESS_KEY, ip):
                reset = strategy.reset_time(limit, ADDRESS_KEY, ip)
                return max(1, math.ceil(reset - time.time()))
    except Exception:  # the storage (Redis) is down: per-account locks still hold
        log.warning("login address limits unavailable", exc_info=True)
    return 0


def _address_failed(ip: str) -> None:
    if not ip:
        return
    try:
        for limit in _address_limits():
            rate_limits().hit(limit, ADDRESS_KEY, ip)
    except Exception:
        log.warning("login address limits unavailable", exc_info=True)


def is_locked(login: str, ip: str = "") -> bool:
    """The identifier is locked out (SPEC §3). An address is never locked: it is
    paced (:func:`address_wait`), so that an office behind one NAT keeps working."""
    return _locked(_throttle(f"login:{(login or '').strip().upper()[:60]}"))


def count_failure(login: str, ip: str = "", account: Account | None = None) -> bool:
    """Count one failed password or second-factor code against the identifier and
    the address (SPEC §3: the same throttle for both); True when now locked."""
    login = (login or "").strip().upper()[:60]
    _address_failed(ip)
    locked = _fail(_throttle(f"login:{login}"), current_app.config["LOGIN_MAX_FAILURES"])
    if locked:
        audit.record("login_locked", account, ip=ip, actor_login=login, **_structure(account))
    return locked


@dataclass
class LoginAttempt:
    """The outcome of a login step: the account, or the message to show. A refused
    attempt is not rolled back: its failure count, lock and audit event are the
    throttle's memory (SPEC §3), so the caller commits in both cases.
    ``second_step``: the password was right, the second factor is still to give."""

    account: Account | None
    refusal: str | None = None
    second_step: bool = False


def may_log_in(account: Account) -> bool:
    """SPEC §3: inactive accounts and suspended partners' accounts cannot log in,
    whatever the way in (password, ProConnect)."""
    return account.status == AccountStatus.ACTIVE and not (
        account.partenaire is not None and account.partenaire.is_suspended)


def _structure(account: Account | None) -> dict:
    """The audit event of a login about an account belongs to its partenaire or
    caisse, so that the caisse's référent sees the attacks on its partners'
    accounts in its journal (SPEC §7, ep_web.domain.audit.scope_clause)."""
    if account is None:
        return {}
    return {"caisse_id": account.caisse_id, "partenaire_id": account.partenaire_id}


def attempt_login(login: str, password: str, ip: str = "") -> LoginAttempt:
    """SPEC §3: the account if the credentials are right and the account may log
    in. Repeated failures on one identifier lock it for a while — whether or not
    it exists, so the answer never tells. An inactive or suspended account gets
    the words of a wrong password. Failures from one network address slow that
    address down (:func:`address_wait`), but a right password for an account
    that is not itself locked is never refused. An account with a second factor
    is not logged in yet: ``second_step`` asks for its code (:func:`complete_login`
    after it)."""
    login = (login or "").strip().upper()[:60]
    minutes = current_app.config["LOGIN_LOCK_MINUTES"]
    account = db.session.scalar(select(Account).where(Account.login == login)) if login else None
    if is_locked(login):
        verify_password(None, password)  # same time as a real attempt
        audit.record("login_failed", account, ip=ip, actor_login=login[:60], why="locked", **_structure(account))
        return LoginAttempt(None, LOCKED.format(minutes=minutes))

    ok = verify_password(account.password_hash if account else None, password)
    if ok and may_log_in(account):
        if account.has_second_factor:
            # The failure count is reset only once the code is right too: the
            # password alone must not give an attacker fresh tries at the code.
            return LoginAttempt(account, second_step=True)
        complete_login(account, ip)
        return LoginAttempt(account)

    wait = address_wait(ip)
    why = "inactive" if ok else ("unknown" if account is None else "password")
    audit.record("login_failed", account, ip=ip, actor_login=login[:60], why=why, **_structure(account))
    if count_failure(login, ip, account):
        return LoginAttempt(None, LOCKED.format(minutes=minutes))
    if wait:
        return LoginAttempt(None, ADDRESS_PACED.format(seconds=wait))
    return LoginAttempt(None, BAD_CREDENTIALS)


def complete_login(account: Account, ip: str = "", method: str = "password") -> None:
    """SPEC §3: the login succeeded (password, with its code when the account has a
    second factor, or ProConnect): the throttle forgets the failures, the idle rule
    counts from now, the 14-day enrolment grace starts if due. Audited (SPEC §7)."""
    from ep_web.domain import second_factor

    row = db.session.scalar(select(LoginThrottle).where(LoginThrottle.key == f"login:{account.login}"))
    if row is not None:
        row.failures = 0
    first_login = account.last_login_at is None
    account.last_login_at = now()
    account.idle_warning_sent_at = None
    second_factor.grant_grace_at_login(account, first_login)
    audit.record("login", account, target=account, ip=ip, **({"method": method} if method != "password" else {}))


def authenticate(login: str, password: str, ip: str = "") -> Account:
    """SPEC §3: :func:`attempt_login` for callers that want the account or a
    DomainError with the message to show."""
    attempt = attempt_login(login, password, ip)
    if attempt.account is None:
        raise DomainError(attempt.refusal)
    return attempt.account


def change_password(account: Account, current: str, new: str, ip: str = "", keep_session: int | None = None) -> None:
    """SPEC §3 Passwords: a logged-in user changes their password by giving the
    current one; the new one follows the rules (set_password). Every session
    but ``keep_session`` (the one that changed it) ends. Audited (SPEC §7)."""
    if not verify_password(account.password_hash, current or ""):
        raise DomainError("Mot de passe actuel incorrect.", "current")
    set_password(account, new, keep_session=keep_session)
    audit.record("password_changed", account, target=account, ip=ip)
def attempt_second_step(account: Account, code: str, ip: str = "") -> LoginAttempt:
    """SPEC §3: the code of the second factor after the password (or a recovery
    code). Throttled with the password's failures; the login completes here."""
    from ep_web.domain import second_factor

    if not may_log_in(account):
        return LoginAttempt(None, BAD_CREDENTIALS)
    try:
        how = second_factor.verify(account, code, ip, purpose="login")
    except DomainError as exc:
        return LoginAttempt(None, exc.message)
    complete_login(account, ip, method="password+" + how)
    return LoginAttempt(account)


def attempt_reauth(account: Account, secret: str, ip: str = "") -> str | None:
    """SPEC §3: before a sensitive act, the person proves again who they are: a
    code of their second factor, or their password when they have none. Failures
    count in the login throttle. None when it succeeded, else the message."""
    from ep_web.domain import second_factor

    if account.has_second_factor:
        try:
            second_factor.verify(account, secret, ip, purpose="reauth")
        except DomainError as exc:
            return exc.message
    else:
        minutes = current_app.config["LOGIN_LOCK_MINUTES"]
        if is_locked(account.login):
            return LOCKED.format(minutes=minutes)
        if not secret:
            return "Saisissez votre mot de passe."
        if not verify_password(account.password_hash, secret):
            audit.record("login_failed", account, ip=ip, why="reauth", **_structure(account))
            if count_failure(account.login, ip, account):
                return LOCKED.format(minutes=minutes)
            return "Mot de passe incorrect."
    audit.record("reauthenticated", account, target=account, ip=ip)
    return None


PROCONNECT_UNKNOWN = ("Aucun compte Espace Partenaires actif n'utilise l'adresse {email}. ProConnect ne crée pas de "
                      "compte : votre gestionnaire (ou votre caisse) ouvre les comptes. Vous pouvez aussi vous "
                      "connecter avec votre identifiant et votre mot de passe.")
PROCONNECT_INACTIVE = ("Votre compte Espace Partenaires est inactif ou l'accès de votre structure est suspendu : "
                       "contactez votre gestionnaire ou votre caisse.")
PROCONNECT_AMBIGUOUS = ("Plusieurs comptes Espace Partenaires utilisent l'adresse {email} : connectez-vous une "
                        "première fois avec l'identifiant et le mot de passe du compte voulu, puis avec ProConnect.")
PROCONNECT_NO_EMAIL = "ProConnect n'a pas transmis d'adresse e-mail : connectez-vous avec votre identifiant."


def proconnect_login(sub: str, email: str, mfa: bool, ip: str = "") -> LoginAttempt:
    """SPEC §3: ProConnect is a way into an existing, active account, never a
    way to create one. The account is found by the provider's stable subject,
    or the first time by its e-mail (then linked to the subject). Inactive
    accounts and suspended partners are refused as for a password. A login at a
    level that includes a second factor satisfies ours; otherwise an account
    that has one gives its code next (``second_step``)."""
    account = db.session.scalar(select(Account).where(Account.proconnect_sub == sub)) if sub else None
    if account is None:
        email = (email or "").strip().lower()
        if not email:
            return LoginAttempt(None, PROCONNECT_NO_EMAIL)
        candidates = db.session.scalars(
            select(Account).where(db.func.lower(Account.email) == email, Account.proconnect_sub.is_(None),
                                  Account.status.in_((AccountStatus.ACTIVE, AccountStatus.INACTIVE)))
        ).all()
        active = [a for a in candidates if may_log_in(a)]
        if len(active) > 1:
            audit.record("proconnect_refused", None, ip=ip, why="ambiguous")
            return LoginAttempt(None, PROCONNECT_AMBIGUOUS.format(email=email))
        if not active:
            audit.record("proconnect_refused", candidates[0] if candidates else None, ip=ip,
                         why="inactive" if candidates else "unknown")
            return LoginAttempt(None, (PROCONNECT_INACTIVE if candidates else PROCONNECT_UNKNOWN).format(email=email))
        account = active[0]
        account.proconnect_sub = sub
        audit.record("proconnect_linked", account, target=account, ip=ip)
    elif not may_log_in(account):
        audit.record("proconnect_refused", account, ip=ip, why="inactive")
        return LoginAttempt(None, PROCONNECT_INACTIVE)
    if is_locked(account.login):
        return LoginAttempt(None, LOCKED.format(minutes=current_app.config["LOGIN_LOCK_MINUTES"]))
    if account.has_second_factor and not mfa:
        return LoginAttempt(account, second_step=True)
    complete_login(account, ip, method="proconnect+mfa" if mfa else "proconnect")
    return LoginAttempt(account)
