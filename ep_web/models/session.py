from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime


class SessionEnd:
    """Why a session ended (``UserSession.end_reason``)."""

    LOGOUT = "logout"
    CLOSED = "closed"  # "fermer cette session" / "fermer toutes les autres", from another session
    PASSWORD = "password"  # password changed or reset
    INACTIVATED = "inactivated"  # account inactivated or deleted
    IDLE = "idle"
    EXPIRED = "expired"  # absolute lifetime reached


class UserSession(db.Model):
    """One login on one browser (SPEC §3 "sessions"). The browser's signed cookie
    holds a random token; only its SHA-256 is stored, so a copy of this table
    opens no session. A session is open while ``ended_at`` is null: logout,
    password change, inactivation and "fermer" set it, and every copy of the
    cookie is refused at its next request."""

    __tablename__ = "user_session"
    __table_args__ = (
        # "The open sessions of this account": the page, and ending them all.
        Index("ix_user_session_account_open", "account_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Written at most once a minute (the idle timeout's precision), so that a
    # GET does not write a row each time.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    # The address's network only (/24, /48): enough to recognise one's office.
    ip_prefix: Mapped[str] = mapped_column(String(64), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(20), default="")

    account = relationship("Account", lazy="raise")

    @property
    def is_open(self) -> bool:
        return self.ended_at is None
