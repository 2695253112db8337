"""Password rules (SPEC §3; CNIL deliberation 2022-100, case 1, 80 bits of entropy)."""
import re
import secrets
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

from ep_web.clock import now
from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models import Account, PasswordHistory, SessionEnd

# argon2id with the library's RFC 9106 low-memory profile.
_hasher = PasswordHasher()
@cache
def _common_passwords() -> frozenset:
    """zxcvbn's list, imported at first use: megabytes a worker that never
    checks a new password does not hold."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])
MAX_LENGTH = 128

RULES_TEXT = (
    "Au moins 12 caractères avec majuscules, minuscules, chiffres et caractères spéciaux, "
    "ou au moins 14 caractères avec majuscules, minuscules et chiffres (128 au plus)."
)


def hash_password(password: str) -> str:
    """SPEC §3: passwords are stored with argon2id."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """SPEC §3: check a password against its argon2id hash, in the same time whether the account exists or not."""
    if not password_hash:
        # Same cost as a real check, so timing does not tell whether the login exists.
        _burn(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def _burn(password: str) -> None:
    try:
        _hasher.verify(_DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        pass


def check_password_rules(password: str, account: Account | None = None) -> None:
    """SPEC §3: 12+ chars with upper, lower, digit and symbol, or 14+ with upper,
    lower and digit; at most 128; not a common password; not one of the
    account's last 5. Raises DomainError on the ``password`` field."""
    if len(password) > MAX_LENGTH:
        raise DomainError("Le mot de passe ne peut pas dépasser 128 caractères.", "password")
    has_upper = bool(re.search(r"[A-ZÀ-ÖØ-Þ]", password))
    has_lower = bool(re.search(r"[a-zß-öø-ÿ]", password))
    has_digit = bool(re.search(r"\d", password))
    has_symbol = bool(re.search(r"[^\w\s]|_|\s", password))
    long_enough = (len(password) >= 12 and has_upper and has_lower and has_digit and has_symbol) or (
        len(password) >= 14 and has_upper and has_lower and has_digit
    )
    if not long_enough:
        raise DomainError(f"Mot de passe trop faible. {RULES_TEXT}", "password")
    if _common_core(password) or _too_guessable(password, account):
        raise DomainError(
            "Ce mot de passe est trop courant ou trop facile à deviner (mot du dictionnaire, suite "
            "de touches, votre nom ou identifiant). Choisissez-en un autre.",
            "password",
        )
    if account is not None and account.id is not None and _recently_used(account, password):
        raise DomainError("Ce mot de passe fait partie de vos 5 derniers mots de passe. Choisissez-en un nouveau.",
                          "password")


def _common_core(password: str) -> bool:
    """A common password dressed up with digits or symbols around it
    ("Azerty123456!") is still a common password."""
    lowered = password.lower()
    core = re.sub(r"^[\d\W_]+|[\d\W_]+$", "", lowered)
    common = _common_passwords()
    return lowered in common or core in common or core in _FRENCH_COMMON or len(core) < 4


# French favourites the (English-centred) list lacks.
_FRENCH_COMMON = frozenset({
    "azerty", "azertyuiop", "motdepasse", "soleil", "bonjour", "doudou", "chouchou", "marseille", "loulou",
    "nicolas", "julien", "camille", "coucou", "jetaime", "amour", "princesse", "bienvenue", "secu", "cpam",
    "ameli", "assurancemaladie", "partenaire", "partenaires", "espacepartenaires", "ccas",
})


def _too_guessable(password: str, account: Account | None) -> bool:
    inputs = ["espace", "partenaires", "cpam", "ameli", "assurance", "maladie"]
    if account is not None:
        inputs += [v for v in (account.login, account.nom, account.prenom, account.email) if v]
    # zxcvbn is quadratic on long inputs; 64 characters are plenty to judge.
    from zxcvbn import zxcvbn

    return zxcvbn(password[:64], user_inputs=inputs)["score"] < 3


def _recently_used(account: Account, password: str) -> bool:
    keep = current_app.config["PASSWORD_HISTORY"]
    hashes = db.session.scalars(
        db.select(PasswordHistory.password_hash)
        .where(PasswordHistory.account_id == account.id)
        .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
        .limit(keep)
    ).all()
    return any(verify_password(h, password) for h in hashes)


def set_password(account: Account, password: str, *, keep_session: int | None = None) -> None:
    """Check the rules, store the argon2id hash, keep the history, and end the
    account's sessions — all but ``keep_session``, the one that changed it —
    so that copies elsewhere are refused at their next request (SPEC §3)."""
    from ep_web.domain.sessions import end_sessions

    check_password_rules(password, account)
    account.password_hash = hash_password(password)
    account.password_changed_at = now()
    db.session.flush()
    end_sessions([account.id], SessionEnd.PASSWORD, keep=keep_session)
    db.session.add(PasswordHistory(account_id=account.id, password_hash=account.password_hash, created_at=now()))
    db.session.flush()
    keep = current_app.config["PASSWORD_HISTORY"]
    old = db.session.scalars(
        db.select(PasswordHistory)
        .where(PasswordHistory.account_id == account.id)
        .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
        .offset(keep)
    ).all()
    for row in old:
        db.session.delete(row)


def password_expired(account: Account) -> bool:
    """SPEC §3: passwords expire after PASSWORD_MAX_AGE_DAYS (0 = never)."""
    days = current_app.config["PASSWORD_MAX_AGE_DAYS"]
    if not days or account.password_changed_at is None:
        return False
    return now() >= account.password_changed_at + timedelta(days=days)
