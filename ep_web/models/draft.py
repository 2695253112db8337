from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime


class DemandeDraft(db.Model):
    """A demande being written, saved as the technicien types (SPEC §8: nothing
    the user typed is lost). Holds the typed fields, never a NIR, never a file;
    purged 30 days after its last change."""

    __tablename__ = "demande_draft"
    __table_args__ = (Index("ix_demande_draft_author", "author_id", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)

    author = relationship("Account")

    @property
    def person(self) -> str:
        """What the list shows: the person's name as typed so far."""
        return " ".join(p for p in (self.data.get("prenom"), self.data.get("nom")) if p).strip()
