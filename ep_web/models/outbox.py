import enum
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class EmailStatus(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxEmail(db.Model):
    """An e-mail written in the same transaction as the change that causes it,
    sent after commit by a job (SPEC §3, §8; README « Background jobs »)."""

    __tablename__ = "outbox_email"
    __table_args__ = (
        # The batch claim reads the oldest pending rows (workers.mail).
        Index("ix_outbox_email_pending", "id", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[EmailStatus] = mapped_column(_enum(EmailStatus), default=EmailStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Retry with backoff: not tried again before this time.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A sending claim older than a timeout means a crashed worker (see workers.mail).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set just before this message goes to SMTP. A claim left by a dead worker
    # without it was certainly never sent: it goes back to pending, not failed.
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "host:pid" of the process that claimed it: a claim of a process gone from
    # this host is recovered at once, without waiting for the claim timeout.
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
