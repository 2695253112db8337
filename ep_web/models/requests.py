import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now, today
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class RequestKind(str, enum.Enum):
    """What a gestionnaire asks the caisse (SPEC §3, [2.2.2], [2.2.3])."""

    CREATION = "creation"  # a new gestionnaire
    MODIFICATION = "modification"  # change a gestionnaire's data
    INACTIVATION = "inactivation"  # a gestionnaire leaves on a date

    @property
    def label(self) -> str:
        return {
            "creation": "Nouveau gestionnaire",
            "modification": "Modification d'un gestionnaire",
            "inactivation": "Inactivation d'un gestionnaire",
        }[self.value]

    @property
    def is_creation(self) -> bool:
        return self == RequestKind.CREATION

    @property
    def is_modification(self) -> bool:
        return self == RequestKind.MODIFICATION

    @property
    def needs_identity(self) -> bool:
        """Creation and modification carry the gestionnaire's identity (SPEC §3)."""
        return self in (RequestKind.CREATION, RequestKind.MODIFICATION)


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    DONE = "done"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return {"pending": "À traiter", "done": "Traitée", "refused": "Refusée"}[self.value]

    @property
    def badge(self) -> str:
        """The DSFR badge class of the status."""
        return {"pending": "fr-badge--info", "done": "fr-badge--success", "refused": "fr-badge--error"}[self.value]


class GestionnaireRequest(db.Model):
    __tablename__ = "gestionnaire_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"), index=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"), index=True)
    kind: Mapped[RequestKind] = mapped_column(_enum(RequestKind))
    status: Mapped[RequestStatus] = mapped_column(_enum(RequestStatus), default=RequestStatus.PENDING, index=True)
    target_account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    # civilite, nom, prenom, fonction, telephone, email (creation / modification)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    wished_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    deadline: Mapped[date] = mapped_column(Date)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    response: Mapped[str] = mapped_column(Text, default="")

    partenaire = relationship("Partenaire")
    caisse = relationship("Caisse")
    target = relationship("Account", foreign_keys=[target_account_id])
    requested_by = relationship("Account", foreign_keys=[requested_by_id])

    @property
    def is_pending(self) -> bool:
        return self.status == RequestStatus.PENDING

    @property
    def is_done(self) -> bool:
        return self.status == RequestStatus.DONE

    @property
    def status_badge(self) -> str:
        return self.status.badge

    @property
    def departure_waiting(self) -> bool:
        """An accepted departure whose date came while no other gestionnaire was
        active: it waits, retried each night (SPEC §3 [2.2.3])."""
        return (self.kind == RequestKind.INACTIVATION and self.status == RequestStatus.DONE
                and self.target is not None and self.target.holds_seat
                and self.target.departure_waiting_since is not None)

    def is_overdue_on(self, day: date) -> bool:
        """Still pending after its deadline (SPEC §3: 5 working days)."""
        return self.is_pending and day > self.deadline

    @property
    def is_overdue(self) -> bool:
        return self.is_overdue_on(today())

    @property
    def is_due_today(self) -> bool:
        return self.is_pending and today() == self.deadline

    def is_due_on(self, day: date) -> bool:
        """Still waiting on its last day."""
        return self.is_pending and day == self.deadline


class ReviewDecision(str, enum.Enum):
    CONFIRMED = "confirmed"
    INACTIVATED = "inactivated"

    @property
    def label(self) -> str:
        return {"confirmed": "Confirmé", "inactivated": "Inactivé"}[self.value]


class HabilitationReview(db.Model):
    """A review campaign opened by the caisse [4.2]."""

    __tablename__ = "habilitation_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"), index=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"), index=True)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    deadline: Mapped[date] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    partenaire = relationship("Partenaire")
    caisse = relationship("Caisse")
    items = relationship("ReviewItem", back_populates="review", cascade="all, delete-orphan")

    def is_overdue_on(self, day: date) -> bool:
        """Unfinished after its deadline (SPEC §3 [4.2]: shown to the caisse, reminded)."""
        return self.completed_at is None and day > self.deadline

    @property
    def is_overdue(self) -> bool:
        return self.is_overdue_on(today())


class ReviewItem(db.Model):
    __tablename__ = "review_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("habilitation_review.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    decision: Mapped[ReviewDecision | None] = mapped_column(_enum(ReviewDecision), nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    review = relationship("HabilitationReview", back_populates="items")
    account = relationship("Account", foreign_keys=[account_id])
