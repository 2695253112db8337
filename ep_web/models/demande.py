import enum
from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, utcnow


def _enum(cls, length=40):
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class DemandeStatus(str, enum.Enum):
    """SPEC §4: transmise → prise en charge → (en attente de complément ⇄ prise en charge) → clôturée."""

    TRANSMISE = "transmise"
    PRISE_EN_CHARGE = "prise_en_charge"
    ATTENTE_COMPLEMENT = "attente_complement"
    CLOTUREE = "cloturee"

    @property
    def label(self) -> str:
        return {
            "transmise": "Transmise",
            "prise_en_charge": "Prise en charge",
            "attente_complement": "En attente de complément",
            "cloturee": "Clôturée",
        }[self.value]


OPEN_STATUSES = (DemandeStatus.TRANSMISE, DemandeStatus.PRISE_EN_CHARGE, DemandeStatus.ATTENTE_COMPLEMENT)
_OPEN_SQL = "status IN ('transmise', 'prise_en_charge', 'attente_complement')"


class Outcome(str, enum.Enum):
    """Closing outcomes (SPEC §4), the signalement ones feeding the follow-up indicators (§7)."""

    TRAITEE = "traitee"
    ORIENTEE_SERVICE_SOCIAL = "orientee_service_social"
    SANS_SUITE = "sans_suite"
    TRANSMIS_MISSION_ACCOMPAGNEMENT = "transmis_mission_accompagnement"
    PARCOURS_CREE = "parcours_cree"
    PARCOURS_CLOTURE_SOINS = "parcours_cloture_soins"
    EXAMEN_PREVENTION = "examen_prevention"

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]


OUTCOME_LABELS = {
    Outcome.TRAITEE: "Traitée",
    Outcome.ORIENTEE_SERVICE_SOCIAL: "Orientée vers le service social (le partenaire est informé)",
    Outcome.SANS_SUITE: "Sans suite",
    Outcome.TRANSMIS_MISSION_ACCOMPAGNEMENT: "Transmis à la Mission accompagnement santé",
    Outcome.PARCOURS_CREE: "Parcours créé",
    Outcome.PARCOURS_CLOTURE_SOINS: "Parcours clôturé avec soins réalisés",
    Outcome.EXAMEN_PREVENTION: "Examen de prévention réalisé",
}
GENERAL_OUTCOMES = (Outcome.TRAITEE, Outcome.ORIENTEE_SERVICE_SOCIAL, Outcome.SANS_SUITE)
SIGNALEMENT_OUTCOMES = tuple(Outcome)


class Demande(db.Model):
    """A partner's request to a caisse about one person (SPEC §4). The person's
    identity never includes the NIR."""

    __tablename__ = "demande"
    __table_args__ = (
        # The history, newest first (read backwards).
        # INCLUDE: the filters and capped counts read the index alone (PostgreSQL).
        Index("ix_demande_partenaire_created", "partenaire_id", "created_at", "id",
              postgresql_include=["caisse_id", "service", "status", "author_id", "nom_search"]),
        Index("ix_demande_partenaire_nom", "partenaire_id", "nom_search"),
        Index("ix_demande_duplicate", "caisse_id", "service", "nom_search", "date_naissance"),
        # The queue's order (domain.demandes.queue_query), so LIMIT 20 reads 20
        # index entries: open demandes only, and per status for the filters.
        Index("ix_demande_queue_open", "caisse_id", text("urgent DESC"), text("(due_at IS NULL)"), "due_at",
              "created_at", "id", postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL),
              postgresql_include=["status", "service", "assigned_to_id", "nom_search"]),
        Index("ix_demande_queue_status", "caisse_id", "status", text("urgent DESC"), text("(due_at IS NULL)"),
              "due_at", "created_at", "id", postgresql_include=["service", "assigned_to_id", "nom_search"]),
        # Name search (LIKE '%…%'): a trigram index on PostgreSQL (pg_trgm);
        # SQLite, the development database, gets a plain index.
        Index("ix_demande_nom_trgm", "nom_search", postgresql_using="gin",
              postgresql_ops={"nom_search": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    service: Mapped[str] = mapped_column(String(20))  # a Service value
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"))
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    status: Mapped[DemandeStatus] = mapped_column(_enum(DemandeStatus), default=DemandeStatus.TRANSMISE)
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome), nullable=True)

    # The person (SPEC §4): never the NIR.
    civilite: Mapped[str] = mapped_column(String(10))
    nom: Mapped[str] = mapped_column(String(100))
    prenom: Mapped[str] = mapped_column(String(100))
    date_naissance: Mapped[date] = mapped_column(Date)
    departement: Mapped[str] = mapped_column(String(3))
    # Lower-case, unaccented "nom prenom" for search and duplicate detection.
    nom_search: Mapped[str] = mapped_column(String(210))

    # Service-specific fields (subject, kind, slots, channel, document type…).
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    message: Mapped[str] = mapped_column(Text, default="")
    health_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    urgency_reason: Mapped[str] = mapped_column(String(40), default="")
    duplicate_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Signalements: the caisse contacts the person within 48 hours.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    alert_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # Documents for a partner not habilité go by post (SPEC §4).
    sent_by_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    caisse = relationship("Caisse")
    partenaire = relationship("Partenaire")
    author = relationship("Account", foreign_keys=[author_id])
    assigned_to = relationship("Account", foreign_keys=[assigned_to_id])
    events = relationship("DemandeEvent", back_populates="demande", order_by="DemandeEvent.id",
                          cascade="all, delete-orphan")
    messages = relationship("DemandeMessage", back_populates="demande", order_by="DemandeMessage.id",
                            cascade="all, delete-orphan")
    attachments = relationship("Attachment", back_populates="demande", order_by="Attachment.id",
                               cascade="all, delete-orphan")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class DemandeEvent(db.Model):
    """The timeline of a demande."""

    __tablename__ = "demande_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    demande_id: Mapped[int] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    demande = relationship("Demande", back_populates="events")
    actor = relationship("Account")


class DemandeMessage(db.Model):
    """A message in the two-way thread (partner ⇄ caisse)."""

    __tablename__ = "demande_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    demande_id: Mapped[int] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    from_caisse: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    health_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    demande = relationship("Demande", back_populates="messages")
    author = relationship("Account")


class Attachment(db.Model):
    """A file stored outside the web root under a generated name (SPEC §4).
    Belongs to a demande (partner file or caisse document) or to a ticket."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    demande_id: Mapped[int | None] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("demande_message.id", ondelete="SET NULL"),
                                                   nullable=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    from_caisse: Mapped[bool] = mapped_column(Boolean, default=False)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    demande = relationship("Demande", back_populates="attachments")
    uploaded_by = relationship("Account")


class DemandeCounter(db.Model):
    """Per-year sequence for readable references (EP-2026-000123), the same on
    SQLite and PostgreSQL."""

    __tablename__ = "demande_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
