"""Accounts and their lifecycle (SPEC §3)."""
import hashlib
import secrets
from datetime import date, timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select

from ep_web.clock import now, today
from ep_web.domain import audit, quotas
from ep_web.domain import notifications as notif
from ep_web.domain.access import caisse_in_force, conventions_in_force
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.lifecycle import REASON_LEAVING, hold_departures, inactivate_where
from ep_web.domain.names import check_person_name
from ep_web.domain.passwords import set_password
from ep_web.domain.textguard import check_texts
from ep_web.domain.webmail import is_webmail
from ep_web.extensions import db
from ep_web.mail import queue_email
from ep_web.models import (
    SEAT_STATUSES,
    Account,
    AccountStatus,
    AccountToken,
    Caisse,
    CguVersion,
    NotificationKind,
    Partenaire,
    Profile,
    TokenPurpose,
)
from ep_web.permissions.partenaires import can_manage_account

_LOGIN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LOGIN_PREFIX = {
    Profile.TECHNICIEN: "T",
    Profile.GESTIONNAIRE: "G",
    Profile.AGENT: "A",
    Profile.ADMIN_CAISSE: "R",
    Profile.ADMIN_NATIONAL: "N",
}
IDENTITY_FIELDS = ("civilite", "nom", "prenom", "fonction", "telephone", "email")


# ---------------------------------------------------------------- helpers

def new_login(profile: Profile) -> str:
    """An opaque identifier (no name in it: it survives the account's erasure in
    the audit log without personal data) (SPEC §3, §7)."""
    while True:
        login = _LOGIN_PREFIX[profile] + "".join(secrets.choice(_LOGIN_ALPHABET) for _ in range(7))
        if not db.session.scalar(select(Account.id).where(Account.login == login)):
            return login


def normalize_email(raw: str, field: str = "email") -> str:
    """SPEC §3: a valid e-mail address, normalised to lower case, or a French message on ``field``."""
    raw = (raw or "").strip()
    if not raw:
        raise DomainError("Indiquez une adresse e-mail.", field)
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise DomainError("Adresse e-mail invalide. Exemple : prenom.nom@structure.fr", field) from None
    return result.normalized.lower()


def check_professional_email(email: str, partenaire: Partenaire, field: str = "email") -> str:
    """SPEC §3 [2.2.1]: partner e-mails must be professional: free webmail domains
    are refused, and where the partner registered domains the address must use
    one. A webmail domain registered before the rule held is not a professional
    domain: it is ignored, and the message says so."""
    email = normalize_email(email, field)
    domain = email.rsplit("@", 1)[1]
    if is_webmail(domain):
        raise DomainError(
            f"Les adresses de messagerie personnelle ({domain}) sont refusées : les comptes du portail donnent "
            "accès à des données personnelles, indiquez l'adresse professionnelle fournie par la structure.",
            field,
        )
    registered = partenaire.domain_list
    allowed = [d for d in registered if not is_webmail(d)]
    if registered and not allowed:
        raise DomainError(
            "Les domaines enregistrés pour la structure (" + ", ".join(registered) + ") sont des messageries "
            "personnelles : la caisse doit enregistrer le domaine professionnel de la structure.",
            field,
        )
    if allowed and domain not in allowed:
        raise DomainError(
            "L'adresse doit utiliser un domaine enregistré par la structure : " + ", ".join("@" + d for d in allowed),
            field,
        )
    return email


def check_phone(raw: str, field: str = "telephone") -> str:
    """SPEC §3: a phone number of 10 to 15 digits, written as people do."""
    raw = (raw or "").strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    if raw and not 10 <= len(digits) <= 15:
        raise DomainError("Numéro de téléphone invalide. Exemple : 04 50 00 00 00", field)
    return raw


def clean_identity(data: dict, *, require_phone: bool = False) -> dict:
    """Strip and check the identity fields of an account
    (SPEC §3: civilité, nom, prénom, fonction, téléphone, e-mail); every field
    in error is reported in one pass."""
    out = {k: (data.get(k) or "").strip() for k in IDENTITY_FIELDS}
    errors: list[tuple[str, str]] = []
    if out["civilite"] not in ("Mme", "M."):
        errors.append(("Choisissez la civilité.", "civilite"))
    for key, label in (("nom", "le nom"), ("prenom", "le prénom")):
        try:
            out[key] = check_person_name(out[key], key)
        except DomainError as exc:
            errors.append((exc.message, exc.field))
            continue
        if not out[key]:
            errors.append((f"Indiquez {label}.", key))
        elif len(out[key]) > 100:
            errors.append(("100 caractères au plus.", key))
    if len(out["fonction"]) > 150:
        errors.append(("150 caractères au plus.", "fonction"))
    # SPEC §4: no NIR in any text typed (a 13-to-15-digit "telephone" could be one).
    try:
        check_texts({"fonction": out["fonction"], "telephone": out["telephone"]})
    except DomainError as exc:
        errors.append((exc.message, exc.field))
    if require_phone and not out["telephone"]:
        errors.append(("Indiquez le téléphone.", "telephone"))
    else:
        try:
            check_phone(out["telephone"])
        except DomainError as exc:
            errors.append((exc.message, exc.field))
    error = DomainError.collected(errors)
    if error:
        raise error
    return out


def _email_taken(email: str, profile: Profile, exclude_id: int | None = None) -> bool:
    q = select(Account.id).where(
        func.lower(Account.email) == email, Account.profile == profile, Account.status != AccountStatus.DELETED
    )
    if exclude_id:
        q = q.where(Account.id != exclude_id)
    return db.session.scalar(q.limit(1)) is not None


# ---------------------------------------------------------------- tokens

def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(account: Account, purpose: TokenPurpose) -> str:
    """A random, single-use, expiring link token; earlier unused ones of the same
    purpose are voided. Only its hash is stored (SPEC §3)."""
    for old in db.session.scalars(
        select(AccountToken).where(
            AccountToken.account_id == account.id, AccountToken.purpose == purpose, AccountToken.used_at.is_(None)
        )
    ):
        old.used_at = now()
    raw = secrets.token_urlsafe(32)
    if purpose == TokenPurpose.ACTIVATION:
        lifetime = timedelta(hours=current_app.config["ACTIVATION_TOKEN_HOURS"])
    else:
        lifetime = timedelta(minutes=current_app.config["RESET_TOKEN_MINUTES"])
    db.session.add(
        AccountToken(account_id=account.id, purpose=purpose, token_hash=_hash_token(raw), expires_at=now() + lifetime)
    )
    db.session.flush()
    return raw


def peek_token(raw: str, purpose: TokenPurpose) -> AccountToken:
    """The token if it is valid, without using it (SPEC §3)."""
    token = db.session.scalar(select(AccountToken).where(AccountToken.token_hash == _hash_token(raw or "")))
    if token is None or token.purpose != purpose:
        raise DomainError("Ce lien n'est pas valide. Demandez-en un nouveau.")
    if token.used_at is not None:
        raise DomainError("Ce lien a déjà été utilisé. Demandez-en un nouveau si besoin.")
    if token.expires_at <= now():
        raise DomainError("Ce lien a expiré. Demandez-en un nouveau.")
    account = token.account
    if account.status in (AccountStatus.INACTIVE, AccountStatus.DELETED) or _partner_blocked(account):
        raise DomainError("Ce compte n'est pas actif. Contactez votre gestionnaire ou votre caisse.")
    return token


def _partner_blocked(account: Account) -> bool:
    return account.partenaire is not None and account.partenaire.is_suspended


def use_token(raw: str, purpose: TokenPurpose, password: str) -> Account:
    """Activation or reset: set the chosen password (rules of SPEC §3) and burn the token."""
    token = peek_token(raw, purpose)
    account = token.account
    set_password(account, password)
    token.used_at = now()
    if account.status == AccountStatus.PENDING:
        account.status = AccountStatus.ACTIVE
        account.activated_at = now()
        audit.record("account_activated", account, target=account)
    else:
        audit.record("password_changed", account, target=account, via="reset")
    db.session.flush()
    return account


def send_activation(account: Account) -> None:
    """SPEC §3: the account holder gets its login and a single-use link to choose
    its password. No password ever travels by e-mail."""
    raw = issue_token(account, TokenPurpose.ACTIVATION)
    queue_email(
        account.email,
        "activation",
        "Votre compte Espace Partenaires",
        account=account,
        token=raw,
        hours=current_app.config["ACTIVATION_TOKEN_HOURS"],
    )


def resend_activation(actor: Account, account: Account) -> None:
    """SPEC §3: a new single-use activation link for an account not activated yet
    (the earlier links stop working), sent by someone who manages the account."""
    if not can_manage_account(actor, account):
        raise NotAllowed("Vous ne pouvez pas gérer ce compte.")
    if account.status != AccountStatus.PENDING:
        raise DomainError("Ce compte est déjà activé (ou inactif) : aucun lien d'activation à renvoyer.")
    send_activation(account)
    audit.record("activation_resent", actor, target=account,
                 caisse_id=account.caisse_id or actor.caisse_id, partenaire_id=account.partenaire_id)


def request_password_reset(login_or_email: str, ip: str = "") -> None:
    """Send a reset link if the login (or e-mail) matches an active account,
    at most RESET_EMAILS_PER_HOUR (3) an hour per account, so that nobody can
    flood a mailbox. Says nothing either way: it runs out of the request (the
    job workers.accounts.send_password_reset), and the page answers the same,
    in the same time (SPEC §3 « Mot de passe oublié »)."""
    key = (login_or_email or "").strip()
    if not key:
        return
    account = db.session.scalar(select(Account).where(Account.login == key.upper()))
    if account is None and "@" in key:
        matches = db.session.scalars(
            select(Account).where(func.lower(Account.email) == key.lower(), Account.status == AccountStatus.ACTIVE)
        ).all()
        account = matches[0] if len(matches) == 1 else None
    if account is None or account.status != AccountStatus.ACTIVE or _partner_blocked(account):
        return
    sent_last_hour = db.session.scalar(
        select(func.count(AccountToken.id)).where(AccountToken.account_id == account.id,
                                                  AccountToken.purpose == TokenPurpose.RESET,
                                                  AccountToken.created_at > now() - timedelta(hours=1))
    )
    if sent_last_hour >= current_app.config["RESET_EMAILS_PER_HOUR"]:
        audit.record("password_reset_requested", account, target=account, ip=ip, throttled=True)
        return
    raw = issue_token(account, TokenPurpose.RESET)
    audit.record("password_reset_requested", account, target=account, ip=ip)
    queue_email(
        account.email,
        "reset",
        "Réinitialisation de votre mot de passe",
        account=account,
        token=raw,
        minutes=current_app.config["RESET_TOKEN_MINUTES"],
    )


# ---------------------------------------------------------------- creation

def _create(actor: Account | None, profile: Profile, data: dict, *, partenaire=None, caisse=None) -> Account:
    account = Account(
        login=new_login(profile),
        profile=profile,
        status=AccountStatus.PENDING,
        partenaire_id=partenaire.id if partenaire else None,
        caisse_id=caisse.id if caisse else None,
        created_by_id=actor.id if actor else None,
        created_at=now(),
        **data,
    )
    db.session.add(account)
    db.session.flush()
    audit.record(
        "account_created",
        actor,
        target=account,
        profile=profile.value,
        caisse_id=caisse.id if caisse else (actor.caisse_id if actor else None),
        partenaire_id=partenaire.id if partenaire else None,
    )
    send_activation(account)
    return account


def create_technicien(actor: Account, data: dict) -> Account:
    """SPEC §3: any gestionnaire of the partner creates techniciens, within quota,
    with a professional e-mail, while the partner holds a convention in force."""
    if actor.profile != Profile.GESTIONNAIRE or actor.status != AccountStatus.ACTIVE:
        raise NotAllowed("Seul un gestionnaire de la structure crée des comptes technicien.")
    partenaire = actor.partenaire
    data = clean_identity(data)
    data["email"] = check_professional_email(data["email"], partenaire)
    if _email_taken(data["email"], Profile.TECHNICIEN):
        raise DomainError("Un compte technicien existe déjà avec cette adresse.", "email")
    # Same rule as reactivation: no new account once every convention has ended.
    if not conventions_in_force(partenaire.id):
        raise DomainError("La structure n'a plus de convention en cours : aucun compte ne peut être créé.")
    quotas.take_seat(partenaire, Profile.TECHNICIEN)
    account = _create(actor, Profile.TECHNICIEN, data, partenaire=partenaire)
    account.manager_id = actor.id
    _tell_gestionnaires(account, actor, "account_created", f"Compte technicien créé pour {account.full_name}")
    return account


def _tell_gestionnaires(account: Account, actor: Account | None, event: str, text: str, email=None) -> None:
    """SPEC §6 account events: the structure's other active gestionnaires see
    them in the portal (and by e-mail as each chose)."""
    if account.partenaire_id is None:
        return
    for g in active_gestionnaires(account.partenaire_id, exclude_id=account.id):
        if actor is not None and g.id == actor.id:
            continue
        notif.notify(g, NotificationKind.ACCOUNT, event, text, "/gestion/", email=email)


def create_gestionnaire(actor: Account, partenaire: Partenaire, data: dict) -> Account:
    """SPEC §3: gestionnaires are created by an admin_caisse of a caisse holding a
    convention in force with the partner, within quota, with a professional e-mail."""
    if actor.profile != Profile.ADMIN_CAISSE or not caisse_in_force(actor.caisse_id, partenaire.id):
        raise NotAllowed("Seule une caisse en convention avec la structure crée ses gestionnaires.")
    data = clean_identity(data, require_phone=True)
    data["email"] = check_professional_email(data["email"], partenaire)
    if _email_taken(data["email"], Profile.GESTIONNAIRE):
        raise DomainError("Un compte gestionnaire existe déjà avec cette adresse.", "email")
    quotas.take_seat(partenaire, Profile.GESTIONNAIRE)
    return _create(actor, Profile.GESTIONNAIRE, data, partenaire=partenaire)


def create_caisse_account(actor: Account, caisse: Caisse, profile: Profile, data: dict) -> Account:
    """admin_national creates admin_caisse accounts; an admin_caisse creates the
    agents (and fellow referents) of its own caisse (SPEC §1)."""
    if profile not in (Profile.ADMIN_CAISSE, Profile.AGENT):
        raise DomainError("Profil inconnu.", "profile")
    allowed = actor.profile == Profile.ADMIN_NATIONAL or (
        actor.profile == Profile.ADMIN_CAISSE and actor.caisse_id == caisse.id
    )
    if not allowed:
        raise NotAllowed("Action réservée à l'administration.")
    data = clean_identity(data)
    data["email"] = normalize_email(data["email"])
    if _email_taken(data["email"], profile):
        raise DomainError("Un compte de ce profil existe déjà avec cette adresse.", "email")
    return _create(actor, profile, data, caisse=caisse)


def create_admin_national(data: dict) -> Account:
    """The first national admin, from the command line (SPEC §1)."""
    data = clean_identity(data)
    data["email"] = normalize_email(data["email"])
    return _create(None, Profile.ADMIN_NATIONAL, data)


def modify_gestionnaire(actor: Account, gestionnaire: Account, data: dict) -> list[str]:
    """SPEC §3 [2.2.2]: only the caisse modifies a gestionnaire account (civilité,
    nom, prénom, fonction, téléphone, e-mail). Returns the changed fields."""
    if (
        actor.profile != Profile.ADMIN_CAISSE
        or gestionnaire.profile != Profile.GESTIONNAIRE
        or not caisse_in_force(actor.caisse_id, gestionnaire.partenaire_id)
    ):
        raise NotAllowed("Seule la caisse modifie un compte gestionnaire.")
    data = clean_identity(data, require_phone=True)
    data["email"] = check_professional_email(data["email"], gestionnaire.partenaire)
    if _email_taken(data["email"], Profile.GESTIONNAIRE, exclude_id=gestionnaire.id):
        raise DomainError("Un compte gestionnaire existe déjà avec cette adresse.", "email")
    changed = [k for k in IDENTITY_FIELDS if getattr(gestionnaire, k) != data[k]]
    for k in changed:
        setattr(gestionnaire, k, data[k])
    db.session.flush()
    if changed:
        audit.record("account_changed", actor, target=gestionnaire, fields=changed, caisse_id=actor.caisse_id)
    return changed


# ---------------------------------------------------------------- inactivation

def active_gestionnaires(partenaire_id: int, exclude_id: int | None = None) -> list[Account]:
    """SPEC §3 [2.2.3]: the partner's active gestionnaires, oldest first (the one who inherits techniciens)."""
    q = select(Account).where(
        Account.partenaire_id == partenaire_id,
        Account.profile == Profile.GESTIONNAIRE,
        Account.status == AccountStatus.ACTIVE,
    )
    if exclude_id:
        q = q.where(Account.id != exclude_id)
    return list(db.session.scalars(q.order_by(Account.id)))


def inactivate(
    account: Account,
    *,
    actor: Account | None,
    reason: str,
    notify: bool = True,
    enforce_permission: bool = True,
) -> None:
    """SPEC §3: inactivate at once: the account's sessions end at their next
    request (their rows end). Inactive accounts free their quota seat.

    When a caisse inactivates a partner account (fraud, loss, theft — SPEC §3
    [4.1]), the partner's gestionnaires are notified."""
    if enforce_permission and (actor is None or not can_manage_account(actor, account)):
        raise NotAllowed("Vous ne pouvez pas inactiver ce compte.")
    if not account.holds_seat:
        raise DomainError("Ce compte est déjà inactif.")
    reason = (reason or "").strip()
    if enforce_permission and actor.profile == Profile.ADMIN_CAISSE and not reason:
        raise DomainError("Indiquez le motif de l'inactivation.", "reason")
    check_texts({"reason": reason})
    inactivate_where(Account.id == account.id, actor=actor, reason=reason)
    if not account.profile.is_partner:
        return
    if notify and actor is not None and actor.profile == Profile.ADMIN_CAISSE:
        # SPEC §3 [4.1]: the caisse's fraud inactivation reaches every gestionnaire, the actor being the caisse.
        text = f"Compte de {account.full_name} inactivé par la caisse"
        _tell_gestionnaires(account, None, "account_inactivated", text,
                            email=("inactivation_notice", "Un compte de votre structure a été inactivé",
                                   {"account": account, "caisse": actor.caisse,
                                    "reason": account.inactivation_reason}))
    elif notify:
        _tell_gestionnaires(account, actor, "account_inactivated", f"Compte de {account.full_name} inactivé")


def inactivate_technicien(actor: Account, account: Account, reason: str, colleague_id: int | None) -> int:
    """SPEC §3 technicien inactivation by a gestionnaire, with the hand-over of
    SPEC §6: a colleague follows the open demandes the leaving technicien wrote
    or followed (a choice needed when there are some and a colleague exists).
    Returns how many demandes were handed over."""
    open_count = notif.open_followed_count(account) if account.profile == Profile.TECHNICIEN else 0
    colleague = db.session.get(Account, colleague_id) if colleague_id else None
    if open_count and colleague is None and handover_candidates(account):
        raise DomainError(f"Choisissez le technicien qui suivra ses {open_count} demande"
                          f"{'s' if open_count > 1 else ''} en cours.", "colleague_id")
    if colleague_id:
        notif.check_colleague(account, colleague)
    inactivate(account, actor=actor, reason=reason)
    if colleague is None:
        return 0
    return notif.hand_over(actor, account, colleague)


def handover_candidates(account: Account) -> list[Account]:
    """SPEC §6: the colleagues who can take over a leaving technicien's demandes."""
    return list(db.session.scalars(
        select(Account).where(Account.partenaire_id == account.partenaire_id, Account.profile == Profile.TECHNICIEN,
                              Account.status == AccountStatus.ACTIVE, Account.id != account.id)
        .order_by(Account.nom, Account.prenom, Account.id)))


def remind_idle_technicien(actor: Account, account: Account) -> None:
    """SPEC §3 automatic inactivation: a gestionnaire reminds, in one click, a
    technicien about to be inactivated for inactivity to log in (no personal
    data of anyone they accompany)."""
    if actor.profile != Profile.GESTIONNAIRE or not can_manage_account(actor, account):
        raise NotAllowed("Vous ne pouvez pas relancer ce compte.")
    if account.status not in SEAT_STATUSES or not account.email:
        raise DomainError("Ce compte n'est pas actif.")
    days = current_app.config["IDLE_INACTIVATION_DAYS"]
    queue_email(account.email, "idle_reminder", "Connectez-vous pour garder votre compte Espace Partenaires",
                account=account, gestionnaire=actor, months=round(days / 30.4))
    audit.record("idle_reminder_sent", actor, target=account)


def reactivate_technicien(actor: Account, account: Account) -> None:
    """SPEC §3: a gestionnaire reactivates an inactive technicien until its
    deletion, within quota."""
    if actor.profile != Profile.GESTIONNAIRE or not can_manage_account(actor, account):
        raise NotAllowed("Vous ne pouvez pas réactiver ce compte.")
    if account.status != AccountStatus.INACTIVE:
        raise DomainError("Ce compte n'est pas inactif.")
    if not conventions_in_force(account.partenaire_id):
        raise DomainError("La structure n'a plus de convention en cours : aucun compte ne peut être réactivé.")
    quotas.take_seat(actor.partenaire, Profile.TECHNICIEN)
    # Never activated before: back to pending with a fresh activation link.
    account.status = AccountStatus.ACTIVE if account.password_hash else AccountStatus.PENDING
    account.inactivated_at = None
    account.inactivation_reason = ""
    account.idle_warning_sent_at = None
    # The 3-month idle rule counts from the reactivation, not from the old last login.
    account.reactivated_at = now()
    if account.manager_id is None:
        account.manager_id = actor.id
    db.session.flush()
    audit.record("account_reactivated", actor, target=account)
    _tell_gestionnaires(account, actor, "account_reactivated", f"Compte de {account.full_name} réactivé")
    if account.status == AccountStatus.PENDING:
        send_activation(account)


def report_misuse(actor: Account, account: Account, reason: str) -> None:
    """SPEC §3 [4.1]: a gestionnaire who detects misuse reports it in one action,
    which inactivates the account at once and alerts the caisse(s)."""
    if actor.profile != Profile.GESTIONNAIRE or not can_manage_account(actor, account):
        raise NotAllowed("Vous ne pouvez pas signaler ce compte.")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Décrivez en quelques mots l'usage frauduleux constaté.", "reason")
    check_texts({"reason": reason})
    inactivate(account, actor=actor, reason=f"Usage frauduleux signalé : {reason}", notify=False)
    audit.record("misuse_reported", actor, target=account, reason=reason[:1000])
    for conv in conventions_in_force(account.partenaire_id):
        queue_email(
            conv.caisse.referent_email,
            "misuse_alert",
            "Signalement d'usage frauduleux d'un compte partenaire",
            caisse=conv.caisse,
            partenaire=actor.partenaire,
            account=account,
            reporter=actor,
            reason=reason,
        )


def staying_gestionnaires(partenaire_id: int, leaving_id: int, *, active_only: bool = False) -> list[Account]:
    """SPEC §3 [2.2.3]: the structure's gestionnaires other than ``leaving_id``
    who stay: holding a seat (active, or created and not yet activated unless
    ``active_only``) and not themselves scheduled to leave."""
    statuses = [AccountStatus.ACTIVE] if active_only else list(SEAT_STATUSES)
    return list(db.session.scalars(select(Account).where(
        Account.partenaire_id == partenaire_id, Account.profile == Profile.GESTIONNAIRE,
        Account.status.in_(statuses), Account.id != leaving_id,
        Account.scheduled_inactivation_on.is_(None)).order_by(Account.id)))


NO_REPLACEMENT = ("C'est le seul gestionnaire de la structure qui reste : un remplaçant doit être créé d'abord "
                  "(il peut ne pas avoir encore activé son compte).")


def schedule_gestionnaire_inactivation(actor: Account, gestionnaire: Account, on: date) -> str:
    """SPEC §3 [2.2.3]: the caisse inactivates a leaving gestionnaire on the agreed
    date (applied by the daily job; today means now). Refused unless a
    replacement exists (created, even if not yet activated). On the date it
    applies only if another gestionnaire is active by then; otherwise the
    departure waits (lifecycle.hold_departures) and is retried each night.
    Returns "applied", "scheduled" or "waiting"."""
    if actor.profile != Profile.ADMIN_CAISSE or not can_manage_account(actor, gestionnaire):
        raise NotAllowed("Action réservée à la caisse.")
    if gestionnaire.profile != Profile.GESTIONNAIRE:
        raise DomainError("Seuls les gestionnaires sont inactivés à une date.")
    if on < today():
        raise DomainError("La date doit être aujourd'hui ou plus tard.", "on")
    if not staying_gestionnaires(gestionnaire.partenaire_id, gestionnaire.id):
        raise DomainError(NO_REPLACEMENT, "on")
    if on == today() and staying_gestionnaires(gestionnaire.partenaire_id, gestionnaire.id, active_only=True):
        inactivate(gestionnaire, actor=actor, reason=REASON_LEAVING, notify=False)
        return "applied"
    gestionnaire.scheduled_inactivation_on = on
    db.session.flush()
    audit.record("account_inactivation_scheduled", actor, target=gestionnaire, on=on.isoformat())
    if on == today():
        hold_departures([gestionnaire.id], immediate=True)
        return "waiting"
    return "scheduled"


# ---------------------------------------------------------------- CGU

def current_cgu() -> CguVersion | None:
    """SPEC §3 first login: the CGU version in force (the highest)."""
    return db.session.scalar(select(CguVersion).order_by(CguVersion.version.desc()).limit(1))


_UNREAD = object()


def needs_cgu(account: Account, version: "int | None | object" = _UNREAD) -> bool:
    """SPEC §3: the current CGU version must be accepted before anything else.
    ``version``: the version in force (None: no CGU published) when the caller
    already read it (every request does, ep_web.domain.site_state); read here otherwise."""
    if version is _UNREAD:
        version = db.session.scalar(select(func.max(CguVersion.version)))
    return version is not None and (account.cgu_version or 0) < version


def accept_cgu(account: Account, version: int) -> None:
    """SPEC §3 first login: the user accepts the current CGU version (audited, SPEC §7)."""
    cgu = current_cgu()
    if cgu is None or version != cgu.version:
        raise DomainError("Les conditions ont changé entre-temps : relisez la nouvelle version.")
    account.cgu_version = version
    account.cgu_accepted_at = now()
    db.session.flush()
    audit.record("cgu_accepted", account, target=account, version=version)


# ---------------------------------------------------------------- lists

def agents_of(caisse_id: int) -> list[Account]:
    """The caisse's agents (SPEC §1), deleted ones left out: active first, by name."""
    return list(db.session.scalars(
        select(Account)
        .where(Account.caisse_id == caisse_id, Account.profile == Profile.AGENT,
               Account.status != AccountStatus.DELETED)
        .order_by(Account.status != AccountStatus.ACTIVE, Account.nom, Account.prenom)
    ))


def seated_gestionnaires(partenaire_id: int) -> list[Account]:
    """SPEC §3 [2.2.2-2.2.3]: the partner's gestionnaires holding a seat (active or
    not yet activated), those a request to the caisse may concern; active first, by name."""
    return list(db.session.scalars(
        select(Account)
        .where(Account.partenaire_id == partenaire_id, Account.profile == Profile.GESTIONNAIRE,
               Account.status.in_(SEAT_STATUSES))
        .order_by(Account.status != AccountStatus.ACTIVE, func.lower(Account.nom), func.lower(Account.prenom))
    ))


def full_name_of(account_id: int | None) -> str:
    """Who created or answered something, by name ("" when nobody; SPEC §3
    deletion: "compte supprimé" once erased)."""
    account = db.session.get(Account, account_id) if account_id else None
    return account.full_name if account is not None else ""
