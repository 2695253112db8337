import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class ConventionState(str, enum.Enum):
    ACTIVE = "active"
    DENONCEE = "denoncee"  # ends at its end date, no tacit renewal
    TERMINEE = "terminee"
    RESILIEE = "resiliee"

    @property
    def label(self) -> str:
        return {"active": "Active", "denoncee": "Dénoncée", "terminee": "Terminée", "resiliee": "Résiliée"}[self.value]

    @property
    def badge(self) -> str:
        """The DSFR badge class of the state."""
        return {"active": "fr-badge--success", "denoncee": "fr-badge--warning"}.get(self.value, "")

    @property
    def is_live(self) -> bool:
        """Not ended: active, or denounced and running to its end date (SPEC §2)."""
        return self in LIVE_STATES


LIVE_STATES = (ConventionState.ACTIVE, ConventionState.DENONCEE)


class Service(str, enum.Enum):
    """The six partner services (SPEC §4)."""

    CONTACT = "contact"
    ETUDE_DOSSIER = "etude_dossier"
    SUIVI_AME = "suivi_ame"
    SIGNALEMENT = "signalement"
    RENDEZ_VOUS = "rendez_vous"
    DOCUMENT = "document"

    @property
    def label(self) -> str:
        return SERVICE_LABELS[self]


SERVICE_LABELS = {
    Service.CONTACT: "Contacter la caisse de rattachement d'un assuré",
    Service.ETUDE_DOSSIER: "Soumettre une demande d'étude de dossier",
    Service.SUIVI_AME: "Demander le suivi d'un dossier AME",
    Service.SIGNALEMENT: "Signaler une situation de difficultés d'accès aux droits et aux soins",
    Service.RENDEZ_VOUS: "Demander un rendez-vous pour un assuré",
    Service.DOCUMENT: "Demander un document",
}


class Convention(db.Model):
    """A convention between one partner and one caisse (SPEC §2)."""

    __tablename__ = "convention"

    id: Mapped[int] = mapped_column(primary_key=True)
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"), index=True)
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"), index=True)
    signed_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    tacit_renewal: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[ConventionState] = mapped_column(_enum(ConventionState), default=ConventionState.ACTIVE)
    services: Mapped[list] = mapped_column(JSON, default=list)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    partenaire = relationship("Partenaire", back_populates="conventions")
    caisse = relationship("Caisse", lazy="joined")

    def is_in_force(self, today: date) -> bool:
        """Active or denounced-but-not-yet-ended, and within its dates."""
        return self.is_live and self.signed_on <= today <= self.ends_on

    @property
    def is_live(self) -> bool:
        """Not ended by the caisse: its services, renewal and end can still be managed."""
        return self.state.is_live

    @property
    def is_denounced(self) -> bool:
        """Denounced: it will not be renewed and ends at its end date (SPEC §2)."""
        return self.state == ConventionState.DENONCEE

    @property
    def is_active(self) -> bool:
        """Renewed tacitly each year unless denounced (SPEC §2)."""
        return self.state == ConventionState.ACTIVE

    def enables(self, service: "Service | str") -> bool:
        value = service.value if isinstance(service, Service) else service
        return value in (self.services or [])

    @property
    def service_labels(self) -> list[str]:
        return [Service(s).label for s in self.services or [] if s in Service._value2member_map_]
