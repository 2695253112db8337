"""Notifications in the portal, e-mail as each user chooses (SPEC §6).

Every event worth telling (a demande's status or reply, a complement, a
document, a ticket answered, an account event, a review) goes through
:func:`notify`, called by the domain function that makes the event, in the
same transaction: one row in the user's notification centre, and the e-mail
the user chose for that kind — now, in tomorrow's digest, or none. Security
e-mails (activation, reset, lockout, second factor) never come here: they
always go. Texts and e-mails name a reference and a link, never the insured
person (SPEC §8).
"""
from collections.abc import Iterable
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, delete, func, literal_column, select, update

from ep_web.clock import now
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.mail import queue_email, render_email, write_emails
from ep_web.models import (
    KINDS_BY_PROFILE,
    Account,
    AccountStatus,
    Demande,
    DemandeFollower,
    EmailMode,
    Notification,
    NotificationKind,
    NotificationPreference,
    Profile,
)

# The bell says "99+" past this: counting further costs without helping anyone.
BELL_CAP = 99
PER_PAGE = 30


# ---------------------------------------------------------------- preferences

def email_mode(account: Account, kind: NotificationKind) -> EmailMode:
    """SPEC §6: the user's choice for this kind of event; immediately by default."""
    mode = db.session.scalar(select(NotificationPreference.mode).where(
        NotificationPreference.account_id == account.id, NotificationPreference.kind == kind))
    return mode or EmailMode.IMMEDIATE


def preferences(account: Account) -> dict[NotificationKind, EmailMode]:
    """SPEC §6: the choices offered to this profile, with their current value."""
    chosen = dict(db.session.execute(select(NotificationPreference.kind, NotificationPreference.mode).where(
        NotificationPreference.account_id == account.id)).all())
    return {kind: chosen.get(kind, EmailMode.IMMEDIATE) for kind in KINDS_BY_PROFILE[account.profile.value]}


def set_preferences(account: Account, choices: dict[str, str]) -> None:
    """SPEC §6: per kind of event, immediately / daily digest / never. Only the
    kinds the profile receives; an unknown value is refused on its field."""
    offered = KINDS_BY_PROFILE[account.profile.value]
    if not offered:
        raise DomainError("Aucune notification ne vous est envoyée par e-mail.")
    parsed = {}
    for kind in offered:
        raw = choices.get(kind.value) or ""
        if raw not in EmailMode._value2member_map_:
            raise DomainError("Choisissez quand recevoir ces e-mails.", f"pref_{kind.value}")
        parsed[kind] = EmailMode(raw)
    db.session.execute(delete(NotificationPreference).where(NotificationPreference.account_id == account.id))
    db.session.add_all(NotificationPreference(account_id=account.id, kind=k, mode=m) for k, m in parsed.items()
                       if m != EmailMode.IMMEDIATE)
    db.session.flush()


# ---------------------------------------------------------------- notify

def notify(recipient: Account, kind: NotificationKind, event: str, text: str, link: str, *,
           demande_id: int | None = None, email: tuple[str, str, dict] | None = None) -> Notification | None:
    """SPEC §6: a line in the recipient's notification centre and, as they chose
    for ``kind``, the e-mail now (``email`` = template, subject, context), in
    the next daily digest, or none. Inactive accounts hear of nothing.
    ``text`` and the e-mail carry a reference and a link, never the person (§8)."""
    if recipient is None or recipient.status != AccountStatus.ACTIVE:
        return None
    mode = email_mode(recipient, kind) if recipient.email else EmailMode.NEVER
    row = Notification(account_id=recipient.id, kind=kind, event=event, text=text[:300], link=link,
                       demande_id=demande_id, created_at=now(), digest_pending=mode == EmailMode.DIGEST)
    db.session.add(row)
    db.session.flush()
    if mode == EmailMode.IMMEDIATE:
        template, subject, context = email or ("notification", f"Espace Partenaires : {text}", {})
        queue_email(recipient.email, template, subject, recipient=recipient,
                    **({"text": text, "link": link} | context))
    return row


def notify_mailbox(address: str, text: str, link: str) -> None:
    """SPEC §6: a structure's shared mailbox hears of every event on its
    demandes, at once (a reference and a link only, §8)."""
    if address:
        queue_email(address, "notification", f"Espace Partenaires : {text}", recipient=None, text=text, link=link)


# ---------------------------------------------------------------- followers

def followers(demande: Demande) -> list[Account]:
    """SPEC §6: who hears of a demande — its followers (the author from the
    start) still active in the structure."""
    return list(db.session.scalars(
        select(Account).join(DemandeFollower, DemandeFollower.account_id == Account.id)
        .where(DemandeFollower.demande_id == demande.id, Account.status == AccountStatus.ACTIVE,
               Account.partenaire_id == demande.partenaire_id)
        .order_by(Account.id)))


def is_following(account: Account, demande: Demande) -> bool:
    return db.session.scalar(select(func.count()).select_from(DemandeFollower).where(
        DemandeFollower.demande_id == demande.id, DemandeFollower.account_id == account.id)) > 0


def _check_can_follow(actor: Account, demande: Demande) -> None:
    from ep_web.permissions.demandes import can_view_demande

    if actor.profile != Profile.TECHNICIEN or not can_view_demande(actor, demande):
        raise NotAllowed("Seuls les techniciens de la structure suivent ses demandes.")


def add_follower(demande: Demande, account: Account) -> bool:
    """Idempotent: True when ``account`` did not follow ``demande`` yet."""
    if is_following(account, demande):
        return False
    db.session.add(DemandeFollower(demande_id=demande.id, account_id=account.id, since=now()))
    db.session.flush()
    return True


def follow(actor: Account, demande: Demande) -> None:
    """SPEC §6 "Suivre": any technicien of the structure follows a colleague's
    demande (or their own again) and hears of it like its author."""
    _check_can_follow(actor, demande)
    demande.check_open()
    add_follower(demande, actor)


def unfollow(actor: Account, demande: Demande) -> None:
    """SPEC §6: « Ne plus suivre » — the author too may stop hearing of it."""
    _check_can_follow(actor, demande)
    db.session.execute(delete(DemandeFollower).where(DemandeFollower.demande_id == demande.id,
                                                     DemandeFollower.account_id == actor.id))
    db.session.flush()


def check_colleague(leaving: Account, colleague: Account | None) -> None:
    """SPEC §6 hand-over: the one who takes over is an active technicien of the same structure."""
    if colleague is None or colleague.id == leaving.id or colleague.profile != Profile.TECHNICIEN \
            or colleague.partenaire_id != leaving.partenaire_id or colleague.status != AccountStatus.ACTIVE:
        raise DomainError("Choisissez un technicien actif de la structure.", "colleague_id")


def hand_over(actor: Account, leaving: Account, colleague: Account) -> int:
    """SPEC §6: a technicien leaving hands over — ``colleague`` follows every
    open demande ``leaving`` wrote or followed, and each timeline says so.
    Returns how many demandes were handed over."""
    from ep_web.models import OPEN_STATUSES

    check_colleague(leaving, colleague)
    followed = select(DemandeFollower.demande_id).where(DemandeFollower.account_id == leaving.id)
    demandes = db.session.scalars(
        select(Demande).where(Demande.partenaire_id == leaving.partenaire_id, Demande.status.in_(OPEN_STATUSES),
                              (Demande.author_id == leaving.id) | Demande.id.in_(followed))
        .order_by(Demande.id)).all()
    at = now()
    for demande in demandes:
        add_follower(demande, colleague)
        demande.record("handed_over", actor.id, at, to_id=colleague.id, from_id=leaving.id)
        notify(colleague, NotificationKind.DEMANDE, "handed_over",
               f"Vous suivez désormais la demande {demande.reference} (passation)", f"/demandes/{demande.id}",
               demande_id=demande.id)
    db.session.flush()
    return len(demandes)


def open_followed_count(account: Account) -> int:
    """The open demandes ``account`` wrote or follows (the hand-over offers a colleague when there are some)."""
    from ep_web.models import OPEN_STATUSES

    followed = select(DemandeFollower.demande_id).where(DemandeFollower.account_id == account.id)
    return db.session.scalar(select(func.count()).select_from(Demande).where(
        Demande.partenaire_id == account.partenaire_id, Demande.status.in_(OPEN_STATUSES),
        (Demande.author_id == account.id) | Demande.id.in_(followed)))


# ---------------------------------------------------------------- the centre

def unread_count(account: Account, events: Iterable[str] | None = None, cap: int = BELL_CAP) -> int:
    """SPEC §6: the bell's number, up to ``cap`` + 1 ("99+"): a partial index
    of unread rows, so the count reads at most that many entries."""
    if events is None and cap == BELL_CAP:  # the header's bell, on every page
        return db.session.scalar(_bell_select(), {"account_id": account.id})
    q = select(literal_column("1")).select_from(Notification).where(
        Notification.account_id == account.id, Notification.read_at.is_(None))
    if events is not None:
        q = q.where(Notification.event.in_(list(events)))
    return db.session.scalar(select(func.count()).select_from(q.limit(cap + 1).subquery()))


def _bell_count(account_id, *correlate):
    """The bell's count (unread_count without events) of ``account_id``: a
    bound parameter, or a column of an enclosing query (``correlate``)."""
    q = (select(literal_column("1")).select_from(Notification)
         .where(Notification.account_id == account_id, Notification.read_at.is_(None)))
    if correlate:
        q = q.correlate(*correlate)
    return select(func.count()).select_from(q.limit(BELL_CAP + 1).subquery())


def unread_column(account_id_column, table):
    """The bell's count as a column of a query over ``table`` (sessions.load
    reads it with the user: no query of its own on a page that writes nothing,
    see ep_web.transaction.wrote)."""
    return _bell_count(account_id_column, table).scalar_subquery()


@cache
def _bell_select():
    """The bell's count, built once per process."""
    return _bell_count(bindparam("account_id"))


def unread_by_event_select(account_id):
    """(event, count) of the unread notifications of ``account_id`` (a value,
    or a bound parameter in a larger statement: domain.home)."""
    return (select(Notification.event, func.count())
            .where(Notification.account_id == account_id, Notification.read_at.is_(None))
            .group_by(Notification.event))


def capped_by_event(rows, cap: int = BELL_CAP) -> dict[str, int]:
    """The rows of unread_by_event_select, each count capped ("99+")."""
    return {event: min(n, cap + 1) for event, n in rows}


def unread_by_event(account: Account, cap: int = BELL_CAP) -> dict[str, int]:
    """Unread notifications per event (the home's counters), each capped."""
    return capped_by_event(db.session.execute(unread_by_event_select(account.id)).all(), cap)


def page(account: Account, page_no: int = 1, unread_only: bool = False) -> tuple[list[Notification], bool]:
    """SPEC §6: the centre's list, newest first; (rows, has_more)."""
    q = select(Notification).where(Notification.account_id == account.id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    rows = list(db.session.scalars(q.order_by(Notification.created_at.desc(), Notification.id.desc())
                                   .limit(PER_PAGE + 1).offset((max(1, page_no) - 1) * PER_PAGE)))
    return rows[:PER_PAGE], len(rows) > PER_PAGE


def mark_read(account: Account, notification: Notification) -> None:
    """SPEC §6: one notification read (opened from the centre)."""
    if notification.account_id != account.id:
        raise NotAllowed("Notification introuvable.")
    if notification.read_at is None:
        notification.read_at = now()
    db.session.flush()


def mark_all_read(account: Account) -> int:
    """SPEC §6 « Tout marquer comme lu »."""
    result = db.session.execute(update(Notification).where(
        Notification.account_id == account.id, Notification.read_at.is_(None)).values(read_at=now())
        .execution_options(synchronize_session=False))
    return result.rowcount


def mark_demande_read(account: Account, demande_id: int) -> int:
    """Opening a demande reads its notifications (the reply is seen there)."""
    result = db.session.execute(update(Notification).where(
        Notification.account_id == account.id, Notification.demande_id == demande_id,
        Notification.read_at.is_(None)).values(read_at=now()).execution_options(synchronize_session=False))
    return result.rowcount


# ---------------------------------------------------------------- the daily digest

def send_digests(at: datetime | None = None) -> dict:
    """SPEC §6: one e-mail per user with the notifications they chose to get
    in a daily digest, since the previous one; nobody gets an empty digest.
    Set-based and idempotent: the rows are claimed (``digest_pending`` → false)
    by one UPDATE … RETURNING, so a second or concurrent run sends nothing
    twice. Flushes, never commits. Returns the journal's counts."""
    claimed = db.session.execute(
        update(Notification).where(Notification.digest_pending.is_(True)).values(digest_pending=False)
        .returning(Notification.id, Notification.account_id)
        .execution_options(synchronize_session=False)).all()
    if not claimed:
        return {"digests": 0, "notifications": 0}
    ids = [row.id for row in claimed]
    per_account: dict[int, list[Notification]] = {}
    for start in range(0, len(ids), 1000):
        for row in db.session.scalars(select(Notification).where(Notification.id.in_(ids[start:start + 1000]))
                                      .order_by(Notification.account_id, Notification.created_at,
                                                Notification.id)):
            per_account.setdefault(row.account_id, []).append(row)
    accounts = {a.id: a for a in db.session.scalars(select(Account).where(
        Account.id.in_(list(per_account)), Account.status == AccountStatus.ACTIVE, Account.email != ""))}

    def emails():
        for account_id, items in per_account.items():
            account = accounts.get(account_id)
            if account is None:
                continue
            n = len(items)
            yield render_email(account.email, "notification_digest",
                               f"Espace Partenaires : votre résumé du jour ({n} notification{'s' if n > 1 else ''})",
                               recipient=account, items=items)

    sent = write_emails(emails())
    return {"digests": sent, "notifications": len(ids)}


# ---------------------------------------------------------------- the structure's shared mailbox

def set_shared_mailbox(actor: Account, address: str) -> str:
    """SPEC §6: a gestionnaire registers (or removes, with an empty address) a
    shared mailbox of the structure that hears of every event on its demandes.
    Professional only, like the techniciens' addresses (SPEC §3 [2.2.1]: no
    free webmail, one of the structure's registered domains when it has some).
    Returns the address kept ("" when removed)."""
    from ep_web.domain import audit
    from ep_web.domain.accounts import check_professional_email

    if actor.profile != Profile.GESTIONNAIRE or actor.status != AccountStatus.ACTIVE or actor.partenaire is None:
        raise NotAllowed("Seul un gestionnaire de la structure gère sa boîte aux lettres.")
    address = (address or "").strip()
    if address:
        if len(address) > 254:
            raise DomainError("254 caractères au plus.", "address")
        address = check_professional_email(address, actor.partenaire, "address")
    partenaire = actor.partenaire
    if partenaire.shared_mailbox != address:
        partenaire.shared_mailbox = address
        audit.record("shared_mailbox_changed", actor, target=partenaire, partenaire_id=partenaire.id,
                     address=address)
    db.session.flush()
    return address
