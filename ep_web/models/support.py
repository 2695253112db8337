"""Dysfunction tickets, maintenance windows, news (SPEC §5, §6) and the job journal."""
import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class TicketStatus(str, enum.Enum):
    OUVERT = "ouvert"
    EN_COURS = "en_cours"
    ESCALADE = "escalade"
    RESOLU = "resolu"

    @property
    def label(self) -> str:
        return {"ouvert": "Ouvert", "en_cours": "En cours", "escalade": "Escaladé", "resolu": "Résolu"}[self.value]

    @property
    def badge(self) -> str:
        """The DSFR badge class of the status."""
        return {"ouvert": "fr-badge--new", "en_cours": "fr-badge--info", "escalade": "fr-badge--warning",
                "resolu": "fr-badge--success"}[self.value]


class Ticket(db.Model):
    """A dysfunction of the portal reported to the caisse's referent (SPEC §5)."""

    __tablename__ = "ticket"
    __table_args__ = (Index("ix_ticket_caisse_status", "caisse_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"))
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    page: Mapped[str] = mapped_column(String(200), default="")
    health_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), default=TicketStatus.OUVERT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    caisse = relationship("Caisse")
    partenaire = relationship("Partenaire")
    author = relationship("Account")
    messages = relationship("TicketMessage", back_populates="ticket", order_by="TicketMessage.id",
                            cascade="all, delete-orphan")
    attachments = relationship("Attachment", order_by="Attachment.id", cascade="all, delete-orphan")


class TicketMessage(db.Model):
    __tablename__ = "ticket_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    ticket = relationship("Ticket", back_populates="messages")
    author = relationship("Account")


class AppState(db.Model):
    """One row (id 1) that every request reads: ``maintenance_token`` changes
    with every change of the maintenance windows, by database triggers
    (migration 0011), whoever writes, so each web process keeps the windows
    cached and reads them again only when they changed (SPEC §5: a window
    ended early lifts the page at once, on every server)."""

    __tablename__ = "app_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    maintenance_token: Mapped[str] = mapped_column(String(40))


class MaintenanceWindow(db.Model):
    """Announced unavailability (SPEC §5): banner before, 503 page during."""

    __tablename__ = "maintenance_window"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def state_at(self, at: datetime) -> str:
        """'annulee', 'terminee', 'en_cours' or 'programmee' at ``at``."""
        if self.cancelled_at is not None:
            return "annulee"
        if self.ends_at <= at:
            return "terminee"
        if self.starts_at <= at:
            return "en_cours"
        return "programmee"

    @property
    def can_cancel(self) -> bool:
        """Only a window that has not started yet is cancelled; a running one is ended."""
        return self.state_at(now()) == "programmee"

    @property
    def can_end(self) -> bool:
        return self.state_at(now()) == "en_cours"


class News(db.Model):
    """A caisse's news for its partners (SPEC §6)."""

    __tablename__ = "news"
    __table_args__ = (Index("ix_news_caisse_publish", "caisse_id", "publish_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    title: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)  # sanitised at write time
    publish_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Empty = every partner of the caisse; otherwise PartenaireType values.
    target_types: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    digest_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    caisse = relationship("Caisse")
    author = relationship("Account")


class NewsRead(db.Model):
    __tablename__ = "news_read"
    __table_args__ = (UniqueConstraint("news_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    news_id: Mapped[int] = mapped_column(ForeignKey("news.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class JobRun(db.Model):
    """One run of a periodic job: start, end, counts and errors (the job journal)."""

    __tablename__ = "job_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running, ok, failed
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)

    _LABELS = {"running": ("En cours", "fr-badge--info"), "ok": ("Réussie", "fr-badge--success"),
               "failed": ("En échec", "fr-badge--error"), "interrupted": ("Interrompue", "fr-badge--warning")}

    @property
    def status_label(self) -> str:
        return self._LABELS.get(self.status, self._LABELS["running"])[0]

    @property
    def status_badge(self) -> str:
        return self._LABELS.get(self.status, self._LABELS["running"])[1]

    @property
    def has_failed(self) -> bool:
        """Failed or interrupted: the journal shows the error instead of the counts."""
        return self.status in ("failed", "interrupted")
