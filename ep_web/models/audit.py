from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime


class AuditEvent(db.Model):
    """Append-only security log (SPEC §7). The ORM refuses updates and deletes;
    the migration adds database triggers that refuse them too."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True, index=True)
    # The login, not the name: it survives the erasure of the account's personal data.
    actor_login: Mapped[str] = mapped_column(String(60), default="")
    target_type: Mapped[str] = mapped_column(String(40), default="")
    target_id: Mapped[int | None] = mapped_column(nullable=True)
    caisse_id: Mapped[int | None] = mapped_column(ForeignKey("caisse.id"), nullable=True, index=True)
    partenaire_id: Mapped[int | None] = mapped_column(ForeignKey("partenaire.id"), nullable=True, index=True)
    ip: Mapped[str] = mapped_column(String(45), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(mapper, connection, target):
    raise RuntimeError("audit_event is append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise RuntimeError("audit_event is append-only")
