from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime


class Caisse(db.Model):
    """A CPAM (SPEC §2)."""

    __tablename__ = "caisse"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(10), unique=True)
    # Départements covered, comma-separated ("74" or "2A,2B").
    departements: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(Text, default="")
    referent_email: Mapped[str] = mapped_column(String(254))
    autre_canal: Mapped[str] = mapped_column(Text, default="")
    # The DPO mailbox told at once of a suspected data breach (SPEC §7); the
    # referent mailbox when empty.
    dpo_email: Mapped[str] = mapped_column(String(254), default="")
    idle_inactivation_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The caisse requires a second factor of its agents (SPEC §3; off by default).
    agents_second_factor_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    @property
    def departement_list(self) -> list[str]:
        return [d.strip().upper() for d in self.departements.split(",") if d.strip()]

    def __repr__(self) -> str:
        return f"<Caisse {self.code}>"
