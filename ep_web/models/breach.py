import enum
from datetime import datetime, timedelta

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum

# RGPD art. 33 and the conventions (seed 004, annexe 3 §8).
PARTNER_DELAY = timedelta(hours=24)
CAISSE_DELAY = timedelta(hours=72)


class Qualification(str, enum.Enum):
    QUALIFIEE = "qualifiee"
    NON_QUALIFIEE = "non_qualifiee"

    @property
    def label(self) -> str:
        return {"qualifiee": "violation qualifiée", "non_qualifiee": "violation non qualifiée"}[self.value]


class BreachReport(db.Model):
    """A suspected personal-data breach reported by a partner user or a caisse
    user (SPEC §7): what happened, when it was noticed, what may be concerned;
    then the caisse's follow-up (qualification, CNIL decision, closure).

    ``partenaire_id`` is the reporting structure (None when the caisse or
    national reports)."""

    __tablename__ = "breach_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"), index=True)
    partenaire_id: Mapped[int | None] = mapped_column(ForeignKey("partenaire.id"), nullable=True, index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    # Who reported: "partenaire", "caisse" (the caisse's own users) or "national".
    side: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text)
    noticed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    concerned: Mapped[str] = mapped_column(Text, default="")
    # References of the demandes named by the reporter, checked against what they may see.
    demande_references: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    qualification: Mapped[Qualification | None] = mapped_column(_enum(Qualification), nullable=True)
    qualification_comment: Mapped[str] = mapped_column(Text, default="")
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    qualified_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    cnil_notified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    cnil_reason: Mapped[str] = mapped_column(Text, default="")
    cnil_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cnil_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)

    caisse = relationship("Caisse")
    partenaire = relationship("Partenaire")
    author = relationship("Account", foreign_keys=[author_id])
    qualified_by = relationship("Account", foreign_keys=[qualified_by_id])
    cnil_decided_by = relationship("Account", foreign_keys=[cnil_decided_by_id])
    closed_by = relationship("Account", foreign_keys=[closed_by_id])

    # ---------------------------------------------------------------- state

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    @property
    def status_label(self) -> str:
        if self.closed_at:
            return "close"
        if self.cnil_decided_at:
            return "CNIL : décision prise"
        if self.qualification:
            return self.qualification.label
        return "à qualifier"

    @property
    def can_qualify(self) -> bool:
        return not self.is_closed and self.cnil_decided_at is None

    @property
    def can_decide_cnil(self) -> bool:
        return not self.is_closed and self.qualification == Qualification.QUALIFIEE

    @property
    def can_close(self) -> bool:
        if self.is_closed or self.qualification is None:
            return False
        return self.qualification == Qualification.NON_QUALIFIEE or self.cnil_decided_at is not None

    # ---------------------------------------------------------------- clocks

    @property
    def partner_deadline(self) -> datetime:
        """24 h from the moment the breach was noticed (seed 004, annexe 3 §8)."""
        return self.noticed_at + PARTNER_DELAY

    @property
    def caisse_aware_at(self) -> datetime:
        """When the caisse learnt of it: the report itself, or the moment
        noticed when the caisse's own user reported (it knew then)."""
        if self.side == "caisse":
            return self.noticed_at
        return max(self.created_at, self.noticed_at)

    @property
    def caisse_deadline(self) -> datetime:
        """72 h from the caisse's awareness (RGPD art. 33)."""
        return self.caisse_aware_at + CAISSE_DELAY

    @property
    def caisse_clock_stopped_at(self) -> datetime | None:
        """The caisse's clock stops when it decides on the CNIL notification,
        or when it closes the report as not a breach."""
        return self.cnil_decided_at or self.closed_at

    def __repr__(self) -> str:
        return f"<BreachReport {self.reference}>"
