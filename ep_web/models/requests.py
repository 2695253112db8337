import enum
from datetime import date, datetime

from sqlalchemy import JSON, Date, Enum, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, utcnow


def _enum(cls, length=20):
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


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


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    DONE = "done"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return {"pending": "À traiter", "done": "Traitée", "refused": "Refusée"}[self.value]


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[date] = mapped_column(Date)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    response: Mapped[str] = mapped_column(Text, default="")

    partenaire = relationship("Partenaire")
    caisse = relationship("Caisse")
    target = relationship("Account", foreign_keys=[target_account_id])
    requested_by = relationship("Account", foreign_keys=[requested_by_id])


class ReviewDecision(str, enum.Enum):
    CONFIRMED = "confirmed"
    INACTIVATED = "inactivated"


class HabilitationReview(db.Model):
    """A review campaign opened by the caisse [4.2]."""

    __tablename__ = "habilitation_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"), index=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"), index=True)
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[date] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    partenaire = relationship("Partenaire")
    caisse = relationship("Caisse")
    items = relationship("ReviewItem", back_populates="review", cascade="all, delete-orphan")


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
