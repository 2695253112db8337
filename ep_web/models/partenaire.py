import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class PartenaireType(str, enum.Enum):
    CCAS = "ccas"
    ASSOCIATION = "association"
    COLLECTIVITE = "collectivite"
    ETABLISSEMENT_SANTE = "etablissement_sante"
    MANDATAIRE = "mandataire"
    ASE = "ase"
    DEPOSITAIRE = "depositaire"
    AUTRE = "autre"

    @property
    def label(self) -> str:
        return PARTENAIRE_TYPE_LABELS[self]


PARTENAIRE_TYPE_LABELS = {
    PartenaireType.CCAS: "CCAS / CIAS",
    PartenaireType.ASSOCIATION: "Association",
    PartenaireType.COLLECTIVITE: "Collectivité",
    PartenaireType.ETABLISSEMENT_SANTE: "Établissement de santé",
    PartenaireType.MANDATAIRE: "Mandataire judiciaire / tutelle",
    PartenaireType.ASE: "Aide sociale à l'enfance (ASE)",
    PartenaireType.DEPOSITAIRE: "Organisme dépositaire",
    PartenaireType.AUTRE: "Autre",
}


class Partenaire(db.Model):
    """A partner structure, or one site of a larger partner (SPEC §2)."""

    __tablename__ = "partenaire"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str | None] = mapped_column(String(14), nullable=True)
    address: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[PartenaireType] = mapped_column(_enum(PartenaireType, 30))
    members: Mapped[int] = mapped_column(Integer)
    habilite_documents: Mapped[bool] = mapped_column(Boolean, default=False)
    # Registered professional e-mail domains, one per line.
    email_domains: Mapped[str] = mapped_column(Text, default="")
    referent_name: Mapped[str] = mapped_column(String(200), default="")
    referent_email: Mapped[str] = mapped_column(String(254), default="")
    dpo_name: Mapped[str] = mapped_column(String(200), default="")
    dpo_email: Mapped[str] = mapped_column(String(254), default="")
    # A shared mailbox of the structure, told of every event on its demandes
    # (SPEC §6): a complement must not wait for an author on leave.
    shared_mailbox: Mapped[str] = mapped_column(String(254), default="", server_default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("partenaire.id"), nullable=True)
    # Whole-partner suspension by a caisse (SPEC §3, fraud).
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suspended_reason: Mapped[str] = mapped_column(Text, default="")
    # Bumped under the quota lock: the UPDATE takes a row lock on PostgreSQL
    # and the write lock on SQLite before seats are counted.
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    parent: Mapped["Partenaire | None"] = relationship(remote_side=[id], back_populates="sites")
    sites: Mapped[list["Partenaire"]] = relationship(back_populates="parent")
    conventions = relationship("Convention", back_populates="partenaire")

    @property
    def domain_list(self) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in self.email_domains.replace(",", "\n").splitlines() if d.strip()]

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None

    def __repr__(self) -> str:
        return f"<Partenaire {self.id} {self.name!r}>"
