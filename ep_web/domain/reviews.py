"""Habilitation review campaigns (SPEC §3 [4.2]): the caisse opens a campaign
with a deadline; a gestionnaire confirms or inactivates each account of the
partner; unanswered reviews are reminded and shown to the caisse."""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from ep_web.clock import now, today
from ep_web.domain import audit
from ep_web.domain import notifications as notif
from ep_web.domain.access import caisse_in_force
from ep_web.domain.accounts import active_gestionnaires, inactivate
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import (
    SEAT_STATUSES,
    Account,
    HabilitationReview,
    NotificationKind,
    Partenaire,
    Profile,
    ReviewDecision,
    ReviewItem,
)


def open_review(actor: Account, partenaire: Partenaire, deadline: date) -> HabilitationReview:
    """Open a campaign over every active or pending account of the partner (SPEC §3 [4.2])."""
    if actor.profile != Profile.ADMIN_CAISSE or not caisse_in_force(actor.caisse_id, partenaire.id):
        raise NotAllowed("Seule une caisse en convention avec la structure ouvre une revue.")
    if deadline <= today():
        raise DomainError("L'échéance doit être postérieure à aujourd'hui.", "deadline")
    if open_review_for(partenaire.id) is not None:
        # Not the deadline's fault: no field, so the message shows even where the
        # page no longer offers the form (a campaign was opened meanwhile).
        raise DomainError("Une revue des habilitations est déjà en cours pour cette structure.")
    review = HabilitationReview(partenaire_id=partenaire.id, caisse_id=actor.caisse_id, opened_by_id=actor.id,
                                opened_at=now(), deadline=deadline)
    db.session.add(review)
    db.session.flush()
    accounts = db.session.scalars(
        select(Account).where(Account.partenaire_id == partenaire.id, Account.status.in_(SEAT_STATUSES))
    ).all()
    for account in accounts:
        db.session.add(ReviewItem(review_id=review.id, account_id=account.id))
    db.session.flush()
    audit.record("review_opened", actor, target=review, accounts=len(accounts))
    for g in active_gestionnaires(partenaire.id):
        notif.notify(g, NotificationKind.REVIEW, "review",
                     f"Revue des habilitations à faire avant le {deadline:%d/%m/%Y}", "/gestion/habilitations",
                     email=("review_opened", "Revue des habilitations de votre structure", {"review": review}))
    return review


def open_review_for(partenaire_id: int) -> HabilitationReview | None:
    """SPEC §3 [4.2]: the partner's review campaign in progress, if any."""
    return db.session.scalar(
        select(HabilitationReview)
        .where(HabilitationReview.partenaire_id == partenaire_id, HabilitationReview.completed_at.is_(None))
        .order_by(HabilitationReview.id.desc())
        .limit(1)
    )


def latest_for(partenaire_id: int) -> HabilitationReview | None:
    """SPEC §3 [4.2]: the campaign in progress, else the last one (unanswered
    reviews are shown to the caisse)."""
    return open_review_for(partenaire_id) or db.session.scalar(
        select(HabilitationReview)
        .where(HabilitationReview.partenaire_id == partenaire_id)
        .order_by(HabilitationReview.id.desc())
        .limit(1)
    )


@dataclass
class ReviewProgress:
    """Where a campaign stands: its accounts (gestionnaires first, then by name)
    and how many have an answer."""

    review: HabilitationReview
    items: list[ReviewItem]

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def answered(self) -> int:
        return sum(1 for i in self.items if i.decision is not None)

    @property
    def remaining(self) -> int:
        return self.total - self.answered

    @property
    def unanswered(self) -> list[ReviewItem]:
        return [i for i in self.items if i.decision is None]

    @property
    def overdue(self) -> bool:
        return self.review.is_overdue


def progress(review: HabilitationReview | None) -> ReviewProgress | None:
    """SPEC §3 [4.2]: the progress of a campaign, as the caisse and the
    partner's gestionnaires see it (None without a campaign)."""
    if review is None:
        return None
    items = sorted(review.items, key=lambda i: (i.account.profile != Profile.GESTIONNAIRE,
                                                i.account.nom.lower(), i.account.prenom.lower()))
    return ReviewProgress(review, items)


def answer_item(actor: Account, item: ReviewItem, decision: ReviewDecision, reason: str = "") -> None:
    """A gestionnaire of the partner confirms or inactivates one account. The
    campaign completes when every account has an answer (SPEC §3 [4.2])."""
    review = item.review
    if actor.profile != Profile.GESTIONNAIRE or actor.partenaire_id != review.partenaire_id:
        raise NotAllowed("Seul un gestionnaire de la structure répond à la revue.")
    if review.completed_at is not None:
        raise DomainError("Cette revue est close.")
    if item.decision is not None:
        raise DomainError("Ce compte a déjà été revu.")
    account = item.account
    if decision == ReviewDecision.INACTIVATED:
        if account.id == actor.id:
            raise DomainError("Vous ne pouvez pas inactiver votre propre compte : demandez-le à la caisse.")
        if account.profile == Profile.GESTIONNAIRE:
            raise DomainError("Un gestionnaire est inactivé par la caisse : déposez une demande d'inactivation.")
        if account.status in SEAT_STATUSES:
            inactivate(account, actor=actor, reason=(reason or "Revue des habilitations").strip())
    item.decision = decision
    item.decided_by_id = actor.id
    item.decided_at = now()
    db.session.flush()
    audit.record("review_answered", actor, target=review, account_id=account.id, decision=decision.value)
    if all(i.decision is not None for i in review.items):
        review.completed_at = now()
        db.session.flush()
