"""What the background processes say about themselves, and the incidents that
admin_national is told about (README "Production")."""
from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, utcnow


class WorkerHeartbeat(db.Model):
    """One row per running worker or scheduler, rewritten every few seconds.
    A process that stops cleanly deletes its row; a row left behind that stops
    moving is a silent process."""

    __tablename__ = "worker_heartbeat"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable across restarts when the supervisor names the process (EP_WORKER_NAME):
    # a restarted worker takes its row back instead of leaving a silent one.
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # worker, scheduler
    hostname: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    queues: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(40), default="")  # idle, busy, redis_unavailable...
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class MonitorIncident(db.Model):
    """Something late (a periodic job, a silent worker, e-mails waiting): opened
    once, with one e-mail to admin_national, closed when it clears."""

    __tablename__ = "monitor_incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), index=True)
    # Equal to ``key`` while the incident is open, NULL once closed: the unique
    # constraint lets two checkers race and only one of them open (and e-mail) it.
    open_key: Mapped[str | None] = mapped_column(String(160), unique=True, nullable=True)
    label: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
