"""The lifecycle rules that change many rows at once (SPEC §3, §4, §7): those
that apply by themselves when a date passes, called by the periodic jobs of
``workers/``, and the account inactivation and end-of-convention rules, which
the interactive acts (accounts.inactivate, conventions.terminate) call too, so
that a rule has one implementation and the same effects whoever triggers it.

Every rule here is *set-based* and *idempotent*:

- one ``UPDATE … WHERE <the rule> RETURNING id`` changes every row the rule
  selects (no Python loop over the accounts); the WHERE clause is also what
  makes a second run a no-op, because the row no longer matches once changed;
- e-mails are written only for the rows that UPDATE returned, in the same
  transaction. Under concurrency the UPDATE is the claim: on PostgreSQL a
  second run blocks on the row locks, re-checks the WHERE clause after the
  first commits and returns nothing, so nobody is warned or reminded twice;
- audit events are inserted in bulk for the returned rows.

Like every domain function these flush and never commit: the job commits once
(``workers.journal.run_job``), so the change, its audit trail and its e-mails
exist together or not at all.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import and_, delete, exists, func, literal, or_, select, update
from sqlalchemy.orm import aliased

from ep_web.clock import now, to_paris, today
from ep_web.domain import audit
from ep_web.domain.access import in_force_filter
from ep_web.domain.calendar import one_year_after
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.domain.sessions import end_sessions
from ep_web.extensions import db
from ep_web.mail import PENDING_KEY, render_email, write_emails
from ep_web.models import (
    LIVE_STATES,
    OPEN_STATUSES,
    SEAT_STATUSES,
    SLA_SOON,
    Account,
    AccountStatus,
    AccountToken,
    Attachment,
    Caisse,
    Convention,
    ConventionState,
    Demande,
    DemandeEvent,
    DemandeMessage,
    DemandeStatus,
    EmailStatus,
    GestionnaireRequest,
    HabilitationReview,
    JobRun,
    OutboxEmail,
    Partenaire,
    PasswordHistory,
    Profile,
    RequestStatus,
    ReviewItem,
    Service,
    SessionEnd,
    past_due,
)
from ep_web.models.base import UTCDateTime

# SPEC §3: "after a warning e-mail a week before".
IDLE_WARNING_NOTICE = timedelta(days=7)
# The nightly run starts a few seconds or minutes later or earlier from one
# night to the next: a warning sent at 00:05:30 must allow the inactivation
# at 00:05:10 seven nights later, or the account would get a day more.
RUN_JITTER = timedelta(hours=1)
# SPEC §3: the password-expiry reminder goes 14 days before.
PASSWORD_REMINDER_BEFORE = timedelta(days=14)
# Habilitation reviews: first reminder a week before the deadline, then weekly
# while unanswered (overdue ones also go to the caisse).
REVIEW_REMINDER_BEFORE = timedelta(days=7)
REVIEW_REMINDER_EVERY = timedelta(days=7)
# Signalements (SPEC §4, 48 h): agents are alerted when less than this is left.
SIGNALEMENT_ALERT_BEFORE = SLA_SOON  # when the queue's clock turns « soon »
# The job journal keeps this much history.
JOURNAL_KEEP = timedelta(days=90)
# IN (…) lists are cut to stay far below SQLite's bound-parameter limit.
CHUNK = 500

# Shown on the jobs page (admin_national).
JOB_LABELS = {
    "renew_and_end_conventions": "Conventions : reconduction tacite, fin à échéance, fin de convention",
    "apply_gestionnaire_inactivations": "Départ des gestionnaires à la date convenue",
    "warn_idle_techniciens": "Avertissement avant inactivation (3 mois sans connexion)",
    "inactivate_idle_techniciens": "Inactivation des techniciens sans connexion depuis 3 mois",
    "delete_inactive_accounts": "Suppression des comptes inactifs depuis 6 mois",
    "remind_password_expiry": "Rappel d'expiration des mots de passe",
    "remind_habilitation_reviews": "Rappel des revues des habilitations",
    "rollup_statistics": "Statistiques : cumul des journées terminées",
    "purge_closed_demandes": "Purge des demandes clôturées (durée de conservation)",
    "alert_signalements": "Alerte des agents : signalements à 48 heures",
    "send_news_digests": "Lettre d'actualités (résumé par e-mail)",
    "send_notification_digests": "Résumé quotidien des notifications",
    "flush_outbox": "Envoi des e-mails en attente",
    "scan_pending_files": "Analyse antivirus des fichiers en attente",
}
COUNT_LABELS = {
    "warned": "avertis",
    "inactivated": "inactivés",
    "deleted": "supprimés",
    "techniciens_reattached": "techniciens rattachés",
    "renewed": "reconduites",
    "ended": "terminées",
    "accounts_inactivated": "comptes inactivés",
    "reminded": "relancés",
    "alerted": "signalements alertés",
    "demandes": "demandes purgées",
    "files": "fichiers",
    "files_removed": "fichiers effacés",
    "journal_pruned": "lignes de journal purgées",
    "orphan_files_removed": "fichiers orphelins effacés",
    "digests": "résumés",
    "notifications": "notifications",
    "emails": "e-mails écrits",
    "sent": "envoyés",
    "not_sent": "non envoyés",
    "interrupted": "envois interrompus",
    "scanned": "fichiers analysés",
    "clean": "sains",
    "infected": "infectés",
    "missing": "fichiers absents",
    "error": "erreur",
}

REASON_IDLE = "Inactivation automatique : aucune connexion depuis 3 mois"
# SPEC §3 [2.2.3]: the caisse inactivates a leaving gestionnaire on the agreed date.
REASON_LEAVING = "Départ du gestionnaire à la date convenue"
REASON_END = "Fin de convention"
END_REASON = "Arrivée à échéance (dénoncée ou non reconduite)"


# ---------------------------------------------------------------- SQL helpers

def _chunks(seq, size=CHUNK):
    seq = list(seq)
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def _not_suspended():
    """The partner (if any) is not suspended by a caisse (SPEC §3, fraud)."""
    return or_(
        Account.partenaire_id.is_(None),
        ~exists().where(Partenaire.id == Account.partenaire_id, Partenaire.suspended_at.is_not(None)),
    )


# ---------------------------------------------------------------- inactivation (interactive and nightly)

def reattach_techniciens(gestionnaire_ids) -> int:
    """SPEC §3 [2.2.3]: the techniciens of gestionnaires who left stay active and
    are attached to a remaining active gestionnaire of the partner (the oldest
    account), or to none if none is left. Set-based: one UPDATE per CHUNK of
    gestionnaires. Returns how many techniciens were reattached."""
    successor = aliased(Account)
    first_active = (
        select(func.min(successor.id))
        .where(successor.partenaire_id == Account.partenaire_id, successor.profile == Profile.GESTIONNAIRE,
               successor.status == AccountStatus.ACTIVE)
        .scalar_subquery()
    )
    moved = 0
    for chunk in _chunks(gestionnaire_ids):
        moved += db.session.execute(
            update(Account)
            .where(Account.profile == Profile.TECHNICIEN, Account.manager_id.in_(chunk))
            .values(manager_id=first_active)
            .execution_options(synchronize_session="fetch")
        ).rowcount
    return moved


class Inactivation(NamedTuple):
    accounts: list  # rows (id, partenaire_id, caisse_id, profile) of the accounts inactivated
    techniciens_reattached: int


def inactivate_where(*where, actor: Account | None, reason: str) -> Inactivation:
    """SPEC §3: inactivate at once every account holding a seat that matches
    ``where``, in one UPDATE … RETURNING: status, date, reason, no pending
    schedule, open sessions ended (ep_web.domain.sessions); the quota seat is
    freed by the status itself; the techniciens of a gestionnaire who goes are
    attached to a remaining one; each account gets its audit event (SPEC §7).

    The one implementation behind the interactive inactivation
    (:func:`inactivate`) and the nightly rules (ep_web.domain.lifecycle), so
    both have the same effects. Flushes pending changes first (ORM-enabled
    UPDATE) and refreshes the accounts already loaded in the session."""
    reason = (reason or "").strip()[:1000]
    changed = db.session.execute(
        update(Account)
        .where(Account.status.in_(SEAT_STATUSES), *where)
        .values(
            status=AccountStatus.INACTIVE,
            inactivated_at=now(),
            inactivation_reason=reason,
            scheduled_inactivation_on=None,
            departure_waiting_since=None,
        )
        .returning(Account.id, Account.partenaire_id, Account.caisse_id, Account.profile)
        .execution_options(synchronize_session="fetch")
    ).all()
    end_sessions([r.id for r in changed], SessionEnd.INACTIVATED)
    reattached = reattach_techniciens([r.id for r in changed if r.profile == Profile.GESTIONNAIRE])
    audit.record_many("account_inactivated", [("account", r.id, r.caisse_id, r.partenaire_id, {}) for r in changed],
                      actor=actor, reason=reason)
    return Inactivation(changed, reattached)




# ---------------------------------------------------------------- idle techniciens

def _last_activity():
    """The latest of activation, login and reactivation, each compared on its
    own below; creation only for an account that has none of them."""
    return func.coalesce(Account.activated_at, Account.last_login_at, Account.reactivated_at, Account.created_at)


def _idle_since(cutoff: datetime):
    """No activation, login nor reactivation after ``cutoff`` (SPEC §3: the 3
    months count from the latest of them; a never-activated account counts
    from its creation)."""
    return and_(
        _last_activity() < cutoff,
        or_(Account.activated_at.is_(None), Account.activated_at < cutoff),
        or_(Account.last_login_at.is_(None), Account.last_login_at < cutoff),
        or_(Account.reactivated_at.is_(None), Account.reactivated_at < cutoff),
    )


def _warned_since_last_activity():
    """The idle warning was sent after the latest activity (a login or a
    reactivation after the warning cancels it)."""
    w = Account.idle_warning_sent_at
    return and_(
        w.is_not(None),
        w >= _last_activity(),
        or_(Account.activated_at.is_(None), w >= Account.activated_at),
        or_(Account.last_login_at.is_(None), w >= Account.last_login_at),
        or_(Account.reactivated_at.is_(None), w >= Account.reactivated_at),
    )


def _idle_rule_applies(on: date):
    """The per-caisse setting (SPEC §3, seed 000; on by default). A partner may
    work with several caisses: its techniciens are inactivated only if EVERY
    caisse it holds a convention in force with keeps the setting on. One caisse
    that turned it off protects the account, because inactivating it would cut
    that caisse's partner off against the caisse's own choice. A partner with no
    convention in force gets the default (on). Suspended partners are left
    alone: their users cannot log in, so the idle clock would be meaningless."""
    disabled = (
        select(literal(1))
        .select_from(Convention)
        .join(Caisse, Caisse.id == Convention.caisse_id)
        .where(Convention.partenaire_id == Account.partenaire_id, *in_force_filter(on),
               Caisse.idle_inactivation_enabled.is_(False))
        .exists()
    )
    return and_(
        Account.profile == Profile.TECHNICIEN,
        Account.status.in_(SEAT_STATUSES),
        ~disabled,
        _not_suspended(),
    )


def warn_idle_techniciens() -> dict:
    """SPEC §3: a warning e-mail one week before the 3-month idle inactivation.
    Sent once per idle period (a login or a reactivation starts a new one)."""
    t = now()
    days = current_app.config["IDLE_INACTIVATION_DAYS"]
    cutoff = t - timedelta(days=days) + IDLE_WARNING_NOTICE
    rows = db.session.execute(
        update(Account)
        .where(_idle_rule_applies(today()), _idle_since(cutoff), ~_warned_since_last_activity())
        .values(idle_warning_sent_at=t)
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    on = to_paris(t + IDLE_WARNING_NOTICE).date()

    def emails():
        for chunk in _chunks(rows):
            for a in db.session.execute(
                select(Account.email, Account.prenom, Account.nom, Account.login, Account.status)
                .where(Account.id.in_(chunk))
            ).all():
                yield render_email(a.email, "idle_warning", "Votre compte Espace Partenaires va être inactivé",
                             account=a, pending=a.status == AccountStatus.PENDING, on=on,
                             months=round(days / 30.4))

    _notify_idle_warning(rows, on)
    return {"warned": len(rows), "emails": write_emails(emails())}


def _notify_idle_warning(account_ids, on: date) -> None:
    """SPEC §6 account events, « bientôt inactivé »: the technicien and the
    structure's active gestionnaires see it in the portal (the warning e-mail
    itself always goes, above). Set-based: one INSERT … SELECT per chunk."""
    from ep_web.models import Notification, NotificationKind

    at = now()
    when = on.strftime("%d/%m/%Y")
    manager = aliased(Account)
    for chunk in _chunks(account_ids):
        own = select(Account.id, literal(NotificationKind.ACCOUNT.value), literal("idle_warning"),
                     literal(f"Votre compte sera inactivé le {when} sans connexion d'ici là"), literal("/"),
                     literal(at, UTCDateTime), literal(False)).where(Account.id.in_(chunk))
        colleagues = (select(manager.id, literal(NotificationKind.ACCOUNT.value), literal("idle_warning"),
                             literal("Le compte de ") + Account.prenom + literal(" ") + Account.nom
                             + literal(f" sera inactivé le {when} pour inactivité"), literal("/#inactivite"),
                             literal(at, UTCDateTime), literal(False))
                      .join(manager, and_(manager.partenaire_id == Account.partenaire_id,
                                          manager.profile == Profile.GESTIONNAIRE,
                                          manager.status == AccountStatus.ACTIVE))
                      .where(Account.id.in_(chunk)))
        columns = ["account_id", "kind", "event", "text", "link", "created_at", "digest_pending"]
        for query in (own, colleagues):
            db.session.execute(Notification.__table__.insert().from_select(columns, query))


def inactivate_idle_techniciens() -> dict:
    """SPEC §3: techniciens with no login for 3 months are inactivated — only
    after the warning, sent at least a week before (an account that was never
    warned is warned first: catching up after an outage never skips the week)."""
    t = now()
    cutoff = t - timedelta(days=current_app.config["IDLE_INACTIVATION_DAYS"])
    done = inactivate_where(
        _idle_rule_applies(today()),
        _idle_since(cutoff),
        _warned_since_last_activity(),
        Account.idle_warning_sent_at <= t - IDLE_WARNING_NOTICE + RUN_JITTER,
        actor=None,
        reason=REASON_IDLE,
    )
    return {"inactivated": len(done.accounts)}


# ---------------------------------------------------------------- deletion

def delete_inactive_accounts() -> dict:
    """SPEC §3: an account inactive for 6 months is deleted: its personal data is
    erased (identity, e-mail, password and its history, pending links, the
    inactivation reason, which may name the person), its sessions are dead, it
    leaves the lists; the row and its opaque login stay so that the demandes it
    wrote keep their author, shown as "compte supprimé" (Account.full_name)."""
    t = now()
    cutoff = t - timedelta(days=current_app.config["DELETION_AFTER_INACTIVE_DAYS"])
    ids = db.session.execute(
        update(Account)
        .where(Account.status == AccountStatus.INACTIVE, Account.inactivated_at.is_not(None),
               Account.inactivated_at <= cutoff)
        .values(
            status=AccountStatus.DELETED,
            deleted_at=t,
            civilite="", nom="", prenom="", fonction="", telephone="", email="",
            password_hash=None,
            inactivation_reason="",
            scheduled_inactivation_on=None,
            departure_waiting_since=None,
            idle_warning_sent_at=None,
            password_reminder_sent_at=None,
            news_digest=False,
        )
        .returning(Account.id, Account.partenaire_id, Account.caisse_id)
        .execution_options(synchronize_session=False)
    ).all()
    end_sessions([r.id for r in ids], SessionEnd.INACTIVATED)
    for chunk in _chunks([r.id for r in ids]):
        db.session.execute(delete(PasswordHistory).where(PasswordHistory.account_id.in_(chunk)))
        db.session.execute(delete(AccountToken).where(AccountToken.account_id.in_(chunk)))
        # Handled requests about the account carried its identity (modification).
        db.session.execute(
            update(GestionnaireRequest)
            .where(GestionnaireRequest.target_account_id.in_(chunk),
                   GestionnaireRequest.status != RequestStatus.PENDING)
            .values(payload={})
            .execution_options(synchronize_session=False)
        )
    audit.record_many("account_deleted", [("account", r.id, r.caisse_id, r.partenaire_id, {}) for r in ids],
                      reason="Compte inactif depuis 6 mois : données personnelles effacées")
    return {"deleted": len(ids)}


# ---------------------------------------------------------------- gestionnaires leaving

def apply_gestionnaire_inactivations() -> dict:
    """SPEC §3 [2.2.3]: the caisse inactivates a leaving gestionnaire on the agreed
    date (scheduled by accounts.schedule_gestionnaire_inactivation); the
    techniciens it managed are attached to a remaining gestionnaire.

    The "last active gestionnaire" rule holds here too: a departure is applied
    only if another gestionnaire of the structure is active and stays. When
    several leave the same day with nobody staying, all go but one (the latest
    scheduled, then the latest created); a departure that cannot be applied
    waits — it stays scheduled and is retried each night — and the caisse and
    the partner are told why, once (:func:`hold_departures`)."""
    on = today()
    due = db.session.execute(
        select(Account.id, Account.partenaire_id, Account.status, Account.scheduled_inactivation_on)
        .where(Account.profile == Profile.GESTIONNAIRE, Account.status.in_(SEAT_STATUSES),
               Account.scheduled_inactivation_on.is_not(None), Account.scheduled_inactivation_on <= on)
        .order_by(Account.partenaire_id, Account.scheduled_inactivation_on, Account.id)
    ).all()
    if not due:
        return {"inactivated": 0, "techniciens_reattached": 0, "waiting": 0}
    partner_ids = sorted({r.partenaire_id for r in due})
    staying = set(db.session.scalars(
        select(Account.partenaire_id).where(
            Account.profile == Profile.GESTIONNAIRE, Account.status == AccountStatus.ACTIVE,
            Account.partenaire_id.in_(partner_ids),
            or_(Account.scheduled_inactivation_on.is_(None), Account.scheduled_inactivation_on > on))
        .distinct()))
    apply_ids, waiting_ids = [], []
    for partenaire_id in partner_ids:
        rows = [r for r in due if r.partenaire_id == partenaire_id]
        active = [r for r in rows if r.status == AccountStatus.ACTIVE]
        if partenaire_id in staying or not active:
            apply_ids += [r.id for r in rows]
            continue
        keeper = active[-1]  # ordered by date then id: the latest scheduled stays
        waiting_ids.append(keeper.id)
        apply_ids += [r.id for r in rows if r.id != keeper.id]
    done = inactivate_where(Account.id.in_(apply_ids), actor=None, reason=REASON_LEAVING) if apply_ids else None
    hold_departures(waiting_ids)
    return {"inactivated": len(done.accounts) if done else 0,
            "techniciens_reattached": done.techniciens_reattached if done else 0,
            "waiting": len(waiting_ids)}


DEPARTURE_WAITING = ("aucun autre gestionnaire de la structure n'est actif à cette date : l'inactivation "
                     "sera appliquée dès qu'un autre gestionnaire aura activé son compte")


def hold_departures(account_ids: list[int], *, immediate: bool = False) -> int:
    """SPEC §3 [2.2.3]: mark these gestionnaires' departures as waiting for
    another active gestionnaire and tell, once per wait, the caisse(s) in
    convention with the structure and its active gestionnaires why (structure
    and date only). ``immediate``: the e-mails leave after the request's commit
    (an interactive acceptance) rather than after the job's. Returns the
    number of departures newly put on hold."""
    if not account_ids:
        return 0
    on = today()
    held = db.session.execute(
        update(Account)
        .where(Account.id.in_(account_ids), Account.departure_waiting_since.is_(None))
        .values(departure_waiting_since=on)
        .returning(Account.id, Account.partenaire_id, Account.caisse_id, Account.scheduled_inactivation_on)
        .execution_options(synchronize_session="fetch")
    ).all()
    audit.record_many("account_inactivation_waiting",
                      [("account", r.id, r.caisse_id, r.partenaire_id, {}) for r in held],
                      reason=DEPARTURE_WAITING)
    emails = []
    for r in held:
        partenaire = db.session.get(Partenaire, r.partenaire_id)
        context = {"partenaire": partenaire, "scheduled_on": r.scheduled_inactivation_on, "why": DEPARTURE_WAITING}
        subject = "Inactivation d'un gestionnaire en attente"
        caisses = db.session.scalars(select(Caisse).join(Convention, Convention.caisse_id == Caisse.id).where(
            Convention.partenaire_id == r.partenaire_id, *in_force_filter(on)).distinct())
        for caisse in caisses:
            emails.append(render_email(caisse.referent_email, "departure_waiting", subject, side="caisse",
                                       link=f"/caisse/partenaires/{r.partenaire_id}", **context))
        for to in db.session.scalars(select(Account.email).where(
                Account.partenaire_id == r.partenaire_id, Account.profile == Profile.GESTIONNAIRE,
                Account.status == AccountStatus.ACTIVE)):
            emails.append(render_email(to, "departure_waiting", subject, side="partenaire",
                                       link="/gestion/demandes", **context))
    if immediate:
        for row in emails:
            email = OutboxEmail(**row)
            db.session.add(email)
            db.session.flush()
            db.session.info.setdefault(PENDING_KEY, []).append(email.id)
    else:
        write_emails(emails)
    return len(held)


# ---------------------------------------------------------------- conventions

def renew_and_end_conventions() -> dict:
    """SPEC §2-3: conventions renew tacitly for a year unless denounced; a
    denounced (or non-renewable) convention ends after its end date; then the
    end-of-convention rule: a partner left with no convention in force loses
    all its accounts (inactivated); one that keeps another convention only
    loses access to the ended caisse, which is derived from the conventions in
    force (nothing to write).

    A convention is in force up to and including ``ends_on``: it is renewed or
    ended the day after (the nightly run is scheduled just after midnight,
    Paris time)."""
    on = today()
    # Tacit renewal, one year at a time until the end date is reached again
    # (a single run catches up after a long outage, so a second run is a no-op).
    renewed: dict[int, tuple] = {}
    while True:
        rows = db.session.execute(
            update(Convention)
            .where(Convention.state == ConventionState.ACTIVE, Convention.tacit_renewal.is_(True),
                   Convention.ends_on < on)
            .values(ends_on=one_year_after(Convention.ends_on))
            .returning(Convention.id, Convention.ends_on, Convention.caisse_id, Convention.partenaire_id)
            .execution_options(synchronize_session=False)
        ).all()
        if not rows:
            break
        for r in rows:
            renewed[r.id] = r
    audit.record_many(
        "convention_changed",
        [("convention", r.id, r.caisse_id, r.partenaire_id, {"ends_on": r.ends_on.isoformat()})
         for r in renewed.values()],
        change="tacit_renewal",
    )

    ended = db.session.execute(
        update(Convention)
        .where(Convention.state.in_(LIVE_STATES), Convention.ends_on < on)
        .values(state=ConventionState.TERMINEE, ended_at=now(), end_reason=END_REASON)
        .returning(Convention.id, Convention.caisse_id, Convention.partenaire_id)
        .execution_options(synchronize_session=False)
    ).all()
    audit.record_many("convention_changed", [("convention", r.id, r.caisse_id, r.partenaire_id, {}) for r in ended],
                      change=ConventionState.TERMINEE.value, reason=END_REASON)

    inactivated = apply_end_of_conventions(on)
    return {"renewed": len(renewed), "ended": len(ended), "accounts_inactivated": inactivated}


def apply_end_of_conventions(on: date | None = None, *, partenaire_id: int | None = None,
                            actor: Account | None = None) -> int:
    """SPEC §3 end of convention, for every partner at once (the nightly run) or
    for one (a caisse ends a convention: conventions.terminate): the accounts of
    a partner whose conventions have ended and which has none in force any more
    are inactivated; one that keeps another convention only loses access to the
    ended caisse, which is derived from the conventions in force (nothing to
    write). A partner that never had a convention has no account."""
    on = on or today()
    any_ended = exists().where(
        Convention.partenaire_id == Account.partenaire_id,
        Convention.state.in_((ConventionState.TERMINEE, ConventionState.RESILIEE)),
    )
    in_force = exists().where(Convention.partenaire_id == Account.partenaire_id, *in_force_filter(on))
    if partenaire_id is None:
        partner = Account.partenaire_id.is_not(None)
    else:
        partner = Account.partenaire_id == partenaire_id
    done = inactivate_where(
        partner,
        Account.profile.in_((Profile.TECHNICIEN, Profile.GESTIONNAIRE)),
        any_ended,
        ~in_force,
        actor=actor,
        reason=REASON_END,
    )
    return len(done.accounts)


# ---------------------------------------------------------------- reminders

def remind_password_expiry() -> dict:
    """SPEC §3: passwords expire after PASSWORD_MAX_AGE_DAYS (0 = never); a
    reminder e-mail goes 14 days before, once per password."""
    days = current_app.config["PASSWORD_MAX_AGE_DAYS"]
    if not days:
        return {"reminded": 0, "emails": 0}
    t = now()
    max_age = timedelta(days=days)
    rows = db.session.execute(
        update(Account)
        .where(
            Account.status == AccountStatus.ACTIVE,
            Account.password_changed_at.is_not(None),
            Account.password_changed_at <= t - max_age + PASSWORD_REMINDER_BEFORE,
            Account.password_changed_at > t - max_age,
            or_(Account.password_reminder_sent_at.is_(None),
                Account.password_reminder_sent_at < Account.password_changed_at),
            _not_suspended(),
        )
        .values(password_reminder_sent_at=t)
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()

    def emails():
        for chunk in _chunks(rows):
            for a in db.session.execute(
                select(Account.email, Account.prenom, Account.nom, Account.login, Account.password_changed_at)
                .where(Account.id.in_(chunk))
            ).all():
                yield render_email(a.email, "password_expiry", "Votre mot de passe expire bientôt",
                             account=a, expires_on=to_paris(a.password_changed_at + max_age).date())

    return {"reminded": len(rows), "emails": write_emails(emails())}


def remind_habilitation_reviews() -> dict:
    """SPEC §3 [4.2]: unanswered reviews are reminded — to the partner's active
    gestionnaires a week before the deadline, then every week while unanswered;
    once the deadline has passed the caisse's referent mailbox is told too."""
    t = now()
    on = today()
    ids = db.session.execute(
        update(HabilitationReview)
        .where(
            HabilitationReview.completed_at.is_(None),
            HabilitationReview.deadline <= on + REVIEW_REMINDER_BEFORE,
            or_(HabilitationReview.reminded_at.is_(None),
                HabilitationReview.reminded_at <= t - REVIEW_REMINDER_EVERY + RUN_JITTER),
        )
        .values(reminded_at=t)
        .returning(HabilitationReview.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    # Bounded: the reviews due for a reminder today.
    reviews = db.session.scalars(select(HabilitationReview).where(HabilitationReview.id.in_(ids))
                                 .order_by(HabilitationReview.id)).all()
    emails = []
    for review in reviews:
        left = db.session.scalar(
            select(func.count(ReviewItem.id)).where(ReviewItem.review_id == review.id, ReviewItem.decision.is_(None))
        )
        caisse, partenaire = review.caisse, review.partenaire
        overdue = review.is_overdue_on(on)
        subject = ("Revue des habilitations en retard" if overdue
                   else "Rappel : revue des habilitations à terminer")
        for g in db.session.scalars(
            select(Account).where(Account.partenaire_id == review.partenaire_id,
                                  Account.profile == Profile.GESTIONNAIRE,
                                  Account.status == AccountStatus.ACTIVE).order_by(Account.id)
        ):
            emails.append(render_email(g.email, "review_reminder", subject, recipient=g, caisse=caisse,
                                 partenaire=partenaire, deadline=review.deadline, left=left, overdue=overdue,
                                 for_caisse=False))
        if overdue and caisse.referent_email:
            emails.append(render_email(caisse.referent_email, "review_reminder", subject, recipient=None, caisse=caisse,
                                 partenaire=partenaire, deadline=review.deadline, left=left, overdue=True,
                                 for_caisse=True))
    return {"reminded": len(reviews), "emails": write_emails(emails)}


# ---------------------------------------------------------------- demandes

def alert_signalements() -> dict:
    """SPEC §4 [seed 003 art. 3]: the caisse contacts the person within 48 hours.
    When an open signalement has less than SIGNALEMENT_ALERT_BEFORE left (or is
    overdue) the caisse's active agents get one alert, once per demande, grouped
    in one e-mail per agent. The e-mail carries references and deadlines only,
    never the person's identity (SPEC §8). A caisse with no active agent gets it
    on its referent mailbox."""
    t = now()
    due = db.session.execute(
        update(Demande)
        .where(Demande.service == Service.SIGNALEMENT.value, Demande.status.in_(OPEN_STATUSES),
               Demande.due_at.is_not(None), Demande.due_at <= t + SIGNALEMENT_ALERT_BEFORE,
               Demande.alert_sent_at.is_(None))
        .values(alert_sent_at=t)
        .returning(Demande.id, Demande.reference, Demande.caisse_id, Demande.due_at, Demande.urgent)
        .execution_options(synchronize_session=False)
    ).all()
    by_caisse: dict[int, list] = {}
    for d in sorted(due, key=lambda d: (not d.urgent, d.due_at)):
        by_caisse.setdefault(d.caisse_id, []).append(
            {"id": d.id, "reference": d.reference, "due_at": to_paris(d.due_at), "overdue": past_due(d.due_at, t),
             "urgent": d.urgent})
    emails = []
    for caisse_id, items in by_caisse.items():  # bounded: caisses with a signalement due
        caisse = db.session.get(Caisse, caisse_id)
        agents = db.session.execute(
            select(Account.email, Account.prenom, Account.nom)
            .where(Account.caisse_id == caisse_id, Account.profile == Profile.AGENT,
                   Account.status == AccountStatus.ACTIVE).order_by(Account.id)
        ).all()
        recipients = [(a.email, a) for a in agents] or [(caisse.referent_email, None)]
        subject = (f"Signalements : délai de 48 heures bientôt atteint ou dépassé ({len(items)})")
        for to, agent in recipients:
            if to:
                emails.append(render_email(to, "signalement_alert", subject, recipient=agent, caisse=caisse,
                                     items=items))
    return {"alerted": len(due), "emails": write_emails(emails)}


def purge_closed_demandes() -> dict:
    """SPEC §7: closed demandes and their files are purged RETENTION_DAYS after
    closure (default 2 years): the rows (events, messages, attachments with
    them) and the files in UPLOAD_DIR.

    Files go first, then the rows. If the run stops in between (crash, error),
    the rows are still due and the next run deletes them, skipping the files
    already gone: the purge converges without relying on the orphan sweep
    (attachments.remove_orphans, also run here, for uploads that never
    committed)."""
    from ep_web.domain import attachments, statistics

    # The statistics keep counting the purged demandes (SPEC §7): their days are
    # rolled up first (nothing to do when the nightly rollup already ran).
    statistics.rollup()
    cutoff = now() - timedelta(days=current_app.config["RETENTION_DAYS"])
    # A demande the caisse decided to keep longer waits for its own date.
    due = select(Demande.id).where(Demande.status == DemandeStatus.CLOTUREE, Demande.closed_at.is_not(None),
                                   Demande.closed_at <= cutoff,
                                   or_(Demande.retained_until.is_(None), Demande.retained_until < today()))
    names = db.session.scalars(select(Attachment.stored_name).where(Attachment.demande_id.in_(due))).all()
    removed = attachments.delete_files(names)
    # Explicit child deletes: the ON DELETE CASCADE is not enforced on SQLite.
    for child in (Attachment, DemandeMessage, DemandeEvent):
        db.session.execute(delete(child).where(child.demande_id.in_(due))
                           .execution_options(synchronize_session=False))
    purged = db.session.execute(delete(Demande).where(Demande.id.in_(due))
                                .execution_options(synchronize_session=False)).rowcount
    return {"demandes": purged, "files": len(names), "files_removed": removed,
            "orphan_files_removed": attachments.remove_orphans()}


def prune_journal() -> int:
    """The job journal keeps JOURNAL_KEEP of history (finished runs only)
    (README « Background jobs »; no SPEC rule)."""
    return db.session.execute(
        delete(JobRun).where(JobRun.started_at < now() - JOURNAL_KEEP, JobRun.status != "running")
        .execution_options(synchronize_session=False)
    ).rowcount


# ---------------------------------------------------------------- failed e-mails

def resend_failed_email(actor: Account, email: OutboxEmail) -> None:
    """The outbox sends each e-mail at most once: after the last try, or when a
    worker stopped in the middle of sending (it may or may not have reached the
    recipient), the e-mail is marked failed. Only a person — admin_national,
    who sees the failed e-mails on the jobs page — decides to send it again (SPEC §3, §8 e-mails)."""
    if actor.profile != Profile.ADMIN_NATIONAL:
        raise NotAllowed("Action réservée à l'administration nationale.")
    if email.status != EmailStatus.FAILED:
        raise DomainError("Seul un e-mail en échec peut être renvoyé.")
    email.status = EmailStatus.PENDING
    email.attempts = 0
    email.next_attempt_at = None
    email.claimed_at = None
    email.last_error = ""
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(email.id)
    audit.record("email_resent", actor, target=email, email_id=email.id, template=email.template)
