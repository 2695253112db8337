"""Second factor (SPEC §3): TOTP (RFC 6238, through pyotp) with single-use
recovery codes, asked after the password, again before sensitive acts, reset by
the account's manager when a phone is lost."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import pyotp
from flask import current_app
from sqlalchemy import delete, or_, select, update

from ep_web.clock import now
from ep_web.domain import audit
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import Account, Profile, RecoveryCode

ISSUER = "Espace Partenaires"
STEP = 30  # seconds (RFC 6238's default, what every authenticator app uses)
DRIFT = 1  # steps accepted either side: a phone up to 30 s off still works
RECOVERY_CODES = 10
# No 0/O, 1/I/L: codes are copied from paper.
_RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GRACE_DAYS = 14
REAUTH_MINUTES = 15

MANDATORY_PROFILES = (Profile.ADMIN_NATIONAL, Profile.ADMIN_CAISSE, Profile.GESTIONNAIRE)

BAD_CODE = "Code incorrect ou déjà utilisé. Saisissez le code à 6 chiffres affiché maintenant par votre application."
EMPTY_CODE = "Saisissez le code à 6 chiffres de votre application, ou un code de secours."


def required(account: Account) -> bool:
    """SPEC §3: admin_national, admin_caisse and gestionnaire must use a second
    factor; a caisse may require it of its agents."""
    if account.profile in MANDATORY_PROFILES:
        return True
    if account.profile == Profile.AGENT and account.caisse is not None:
        return bool(account.caisse.agents_second_factor_required)
    return False


def in_grace(account: Account) -> bool:
    """SPEC §3: an account that existed before the factor was required of it may
    postpone its enrolment for 14 days (a banner counts them down)."""
    return (not account.has_second_factor and account.second_factor_grace_until is not None
            and account.second_factor_grace_until > now())


def enrolment_due(account: Account) -> bool:
    """The account may go nowhere but the enrolment page: the factor is required,
    missing, and no grace is left."""
    return required(account) and not account.has_second_factor and not in_grace(account)


def grant_grace_at_login(account: Account, first_login: bool) -> None:
    """SPEC §3: a first login enrols at once (after the CGU); an account that
    logged in before gets 14 days from the next login where the factor is required."""
    if account.has_second_factor or not required(account) or account.second_factor_grace_until is not None:
        return
    # A grace over at once marks the account as past its first login: a later
    # login (say, through ProConnect without its second factor) gets none either.
    account.second_factor_grace_until = now() if first_login else now() + timedelta(days=GRACE_DAYS)


# --------------------------------------------------------------------------- enrolment

def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, interval=STEP)


def pending_secret(account: Account) -> str:
    """The secret being enrolled (created at the first visit of the enrolment page,
    kept until confirmed so that a reload does not invalidate the phone's copy)."""
    if account.totp_pending_secret is None:
        account.totp_pending_secret = pyotp.random_base32()  # 160 bits (RFC 4226's recommendation)
        db.session.flush()
    return account.totp_pending_secret


def provisioning_uri(account: Account, secret: str) -> str:
    return _totp(secret).provisioning_uri(name=account.login, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as inline SVG: no script, no image request, no inline
    style (the strict CSP allows it as is)."""
    import segno

    return segno.make(uri, error="m").svg_inline(scale=5, dark="#161616", light="#ffffff",
                                                  title="Code QR à scanner avec votre application")


def _step(at: datetime) -> int:
    return int(at.timestamp()) // STEP


def _normalize(code: str | None) -> str:
    return "".join((code or "").split()).replace("-", "").upper()


def _matching_step(secret: str, code: str, after: int | None) -> int | None:
    """The time step (±DRIFT around now) whose code is ``code`` and that is later
    than ``after`` (the last one accepted: a code is valid once)."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = _totp(secret)
    current = _step(now())
    for step in range(current - DRIFT, current + DRIFT + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _hash_code(code: str) -> str:
    return hashlib.sha256(_normalize(code).encode()).hexdigest()


def _new_recovery_codes(account: Account) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.session.add_all(RecoveryCode(account_id=account.id, code_hash=_hash_code(c)) for c in codes)
    db.session.flush()
    return codes


def confirm_enrolment(account: Account, code: str, ip: str = "") -> list[str]:
    """SPEC §3: the factor counts once the first code read from the phone is
    right; then 10 single-use recovery codes are made, returned to be shown once
    (only their hashes are kept). Audited (SPEC §7)."""
    secret = account.totp_pending_secret
    if secret is None:
        raise DomainError("La page a expiré : rechargez-la pour obtenir un nouveau code QR.", "code")
    code = _normalize(code)
    if not code:
        raise DomainError("Saisissez le code à 6 chiffres affiché par votre application.", "code")
    step = _matching_step(secret, code, None)
    if step is None:
        raise DomainError("Code incorrect. Vérifiez que l'heure de votre téléphone est juste et saisissez le code "
                          "affiché maintenant.", "code")
    account.totp_secret = secret
    account.totp_pending_secret = None
    account.totp_enrolled_at = now()
    account.totp_last_step = step
    account.second_factor_grace_until = None
    codes = _new_recovery_codes(account)
    audit.record("second_factor_enrolled", account, target=account, ip=ip)
    return codes


def regenerate_recovery_codes(account: Account, ip: str = "") -> list[str]:
    """SPEC §3: new recovery codes replace every previous one (asked from "Mon
    compte" after a recent check of the factor). Audited."""
    if not account.has_second_factor:
        raise DomainError("Activez d'abord la double authentification.")
    codes = _new_recovery_codes(account)
    audit.record("recovery_codes_regenerated", account, target=account, ip=ip)
    return codes


def remaining_recovery_codes(account: Account) -> int:
    return db.session.scalar(
        select(db.func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))
    ) or 0


# --------------------------------------------------------------------------- checking a code

def check_code(account: Account, code: str) -> str | None:
    """SPEC §3: a TOTP code of the current step ±1, never one already accepted
    (the step is claimed by one UPDATE, so two requests cannot both use a code),
    or an unused recovery code, then used. "totp" or "recovery", or None."""
    code = _normalize(code)
    if not code or not account.has_second_factor:
        return None
    step = _matching_step(account.totp_secret, code, account.totp_last_step)
    if step is not None:
        claimed = db.session.execute(
            update(Account)
            .where(Account.id == account.id,
                   or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed:
            account.totp_last_step = step
            return "totp"
        return None
    if len(code) == 10:
        used = db.session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.account_id == account.id, RecoveryCode.code_hash == _hash_code(code),
                   RecoveryCode.used_at.is_(None))
            .values(used_at=now())
            .execution_options(synchronize_session=False)
        ).rowcount
        if used:
            return "recovery"
    return None


def verify(account: Account, code: str, ip: str = "", purpose: str = "login") -> str:
    """SPEC §3: the second step of a login, or the check again before a sensitive
    act. Failures count in the same throttle as passwords (per identifier and
    per address) and lock the same way. Returns how it was satisfied."""
    from ep_web.domain.auth import LOCKED, count_failure, is_locked

    minutes = current_app.config["LOGIN_LOCK_MINUTES"]
    if is_locked(account.login, ip):
        raise DomainError(LOCKED.format(minutes=minutes), "code")
    if not _normalize(code):
        raise DomainError(EMPTY_CODE, "code")
    how = check_code(account, code)
    if how is None:
        audit.record("second_factor_failed", account, target=account, ip=ip, purpose=purpose)
        if count_failure(account.login, ip, account):
            raise DomainError(LOCKED.format(minutes=minutes), "code")
        raise DomainError(BAD_CODE, "code")
    if how == "recovery":
        audit.record("recovery_code_used", account, target=account, ip=ip, left=remaining_recovery_codes(account))
    return how


# --------------------------------------------------------------------------- resets

def reset(actor: Account, account: Account, ip: str = "") -> None:
    """SPEC §3 (lost phone): the manager removes the account's second factor and
    recovery codes; the holder enrols again at the next login (no grace), is
    e-mailed, and the reset is audited (SPEC §7)."""
    from ep_web.mail import queue_email
    from ep_web.permissions.identity import can_reset_second_factor

    if not can_reset_second_factor(actor, account):
        raise NotAllowed("Vous ne gérez pas ce compte.")
    if not account.has_second_factor and account.totp_pending_secret is None:
        raise DomainError("Ce compte n'a pas de double authentification à réinitialiser.")
    account.totp_secret = None
    account.totp_pending_secret = None
    account.totp_enrolled_at = None
    account.totp_last_step = None
    # A grace already over: the next login enrols at once (a lost phone is no
    # reason for 14 days without a second factor).
    account.second_factor_grace_until = now()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    audit.record("second_factor_reset", actor, target=account, ip=ip)
    if account.email:
        queue_email(account.email, "second_factor_reset", "Votre double authentification a été réinitialisée",
                    account=account, by_profile=actor.profile.label)


def set_agents_required(caisse, required_: bool) -> None:
    """SPEC §3: a caisse requires a second factor of its agents. Agents already
    in use get the 14-day grace from now rather than a surprise lock-out."""
    caisse.agents_second_factor_required = required_
    if required_:
        db.session.execute(
            update(Account)
            .where(Account.caisse_id == caisse.id, Account.profile == Profile.AGENT,
                   Account.totp_secret.is_(None), Account.last_login_at.is_not(None),
                   Account.second_factor_grace_until.is_(None))
            .values(second_factor_grace_until=now() + timedelta(days=GRACE_DAYS))
            .execution_options(synchronize_session=False)
        )


def enrol_with_secret(account: Account, secret: str) -> None:
    """Demo data and test factories: an account enrolled with a known secret."""
    account.totp_secret = secret
    account.totp_pending_secret = None
    account.totp_enrolled_at = now()
    account.totp_last_step = None


def current_code(secret: str) -> str:
    """The code an authenticator app shows now (``flask ep totp``, tests)."""
    return _totp(secret).generate_otp(_step(now()))
