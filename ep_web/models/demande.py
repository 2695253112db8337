import enum
from datetime import date, datetime, timedelta

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, column, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.domain.errors import DomainError
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class DemandeStatus(str, enum.Enum):
    """SPEC §4: transmise → prise en charge → (en attente de complément ⇄ prise en charge) → clôturée."""

    TRANSMISE = "transmise"
    PRISE_EN_CHARGE = "prise_en_charge"
    ATTENTE_COMPLEMENT = "attente_complement"
    CLOTUREE = "cloturee"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self.value]

    @property
    def badge(self) -> str:
        """The DSFR badge class of the status."""
        return _STATUS_BADGES[self.value]


# Read for every row of the lists: built once.
_STATUS_LABELS = {
    "transmise": "Transmise",
    "prise_en_charge": "Prise en charge",
    "attente_complement": "En attente de complément",
    "cloturee": "Clôturée",
}
_STATUS_BADGES = {
    "transmise": "fr-badge--info",
    "prise_en_charge": "fr-badge--new",
    "attente_complement": "fr-badge--warning",
    "cloturee": "fr-badge--success",
}


OPEN_STATUSES = (DemandeStatus.TRANSMISE, DemandeStatus.PRISE_EN_CHARGE, DemandeStatus.ATTENTE_COMPLEMENT)
_OPEN_SQL = "status IN ('transmise', 'prise_en_charge', 'attente_complement')"
_OPEN_DUE_SQL = _OPEN_SQL + " AND due_at IS NOT NULL"

# SPEC §4 lifecycle: the only moves a demande makes. Closing or asking a
# complement from « transmise » goes through the take (Demande._path_to).
TRANSITIONS = {
    DemandeStatus.TRANSMISE: (DemandeStatus.PRISE_EN_CHARGE,),
    DemandeStatus.PRISE_EN_CHARGE: (DemandeStatus.ATTENTE_COMPLEMENT, DemandeStatus.CLOTUREE),
    DemandeStatus.ATTENTE_COMPLEMENT: (DemandeStatus.PRISE_EN_CHARGE, DemandeStatus.CLOTUREE),
    DemandeStatus.CLOTUREE: (),
}
_REFUSALS = {
    DemandeStatus.ATTENTE_COMPLEMENT: "Un complément ne peut être demandé que sur une demande prise en charge.",
    DemandeStatus.PRISE_EN_CHARGE: "Cette demande n'attend pas de complément.",
}

# Signalements (SPEC §4, seed 003 art. 3): the caisse contacts the person
# within 48 hours; the clock turns "soon" (and agents are alerted) this long before.
SLA_SOON = timedelta(hours=12)


def past_due(due_at: datetime | None, at: datetime) -> bool:
    """The one definition of a missed 48-hour deadline: due at or before ``at``."""
    return due_at is not None and due_at <= at


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
        # The history of one open status, newest first: the open demandes are a
        # few per cent of a structure's (its count read every entry of the one
        # above). The closed ones, most of a structure's, read the one above.
        Index("ix_demande_partenaire_open", "partenaire_id", "status", "created_at", "id",
              postgresql_include=["caisse_id", "service", "author_id", "nom_search"],
              postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL)),
        # The history of one service, newest first: a service is a fifth to a
        # twentieth of a structure's demandes, which the index above read all
        # of, testing each entry's service, before a count stopped at its cap.
        Index("ix_demande_partenaire_service", "partenaire_id", "service", "created_at", "id",
              postgresql_include=["caisse_id", "status", "author_id", "nom_search"]),
        Index("ix_demande_duplicate", "caisse_id", "service", "nom_search", "date_naissance"),
        # The queue's order (domain.demandes.queue_query), so LIMIT 20 reads 20
        # index entries: open demandes only, and per status for the filters.
        Index("ix_demande_queue_open", "caisse_id", text("urgent DESC"), text("(due_at IS NULL)"), "due_at",
              "created_at", "id", postgresql_where=text(_OPEN_SQL), sqlite_where=text(_OPEN_SQL),
              postgresql_include=["status", "service", "assigned_to_id", "nom_search"]),
        Index("ix_demande_queue_status", "caisse_id", "status", text("urgent DESC"), text("(due_at IS NULL)"),
              "due_at", "created_at", "id", postgresql_include=["service", "assigned_to_id", "nom_search"]),
        # The same with a service chosen: its counts, rows and name probe read its entries alone.
        Index("ix_demande_queue_service", "caisse_id", "service", "status", text("urgent DESC"),
              text("(due_at IS NULL)"), "due_at", "created_at", "id",
              postgresql_include=["assigned_to_id", "nom_search"]),
        # The agent's cockpit (ep_web.domain.home): the 48-hour clocks of a
        # caisse's open signalements, what an agent holds, and the partner's
        # replies not yet acted on.
        Index("ix_demande_open_due", "caisse_id", "due_at", postgresql_where=text(_OPEN_DUE_SQL),
              sqlite_where=text(_OPEN_DUE_SQL)),
        Index("ix_demande_open_assigned", "assigned_to_id", postgresql_where=text(_OPEN_SQL),
              sqlite_where=text(_OPEN_SQL)),
        # The technicien's home: complements asked on the structure's demandes (few among its history).
        Index("ix_demande_complement", "partenaire_id", "author_id",
              postgresql_where=text("status = 'attente_complement'"),
              sqlite_where=text("status = 'attente_complement'")),
        Index("ix_demande_partner_replied", "assigned_to_id", postgresql_where=text("partner_replied_at IS NOT NULL"),
              sqlite_where=text("partner_replied_at IS NOT NULL")),
        # Name search within a structure (history) or a caisse (queue). On
        # PostgreSQL (migration 0017): one GIN entry per (structure or caisse,
        # trigram) — ep_scoped_trgm — so a search reads its own scope's
        # entries only (ep_web.domain.demandes.name_matches). SQLite, the
        # development database, keeps plain indexes (the composite trigram GIN
        # of 0011 they stand for on PostgreSQL is dropped by 0017: it matched
        # a whole structure's entries before any name). ddl_if: which database
        # has which (ep_web.models.include_object, for the schema comparison).
        Index("ix_demande_partenaire_nom_trgm", "partenaire_id", "nom_search").ddl_if(dialect="sqlite"),
        Index("ix_demande_caisse_nom_trgm", "caisse_id", "nom_search").ddl_if(dialect="sqlite"),
        Index("ix_demande_partenaire_scoped_trgm", func.ep_scoped_trgm(column("partenaire_id"), column("nom_search")),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
        Index("ix_demande_caisse_scoped_trgm", func.ep_scoped_trgm(column("caisse_id"), column("nom_search")),
              postgresql_using="gin").ddl_if(dialect="postgresql"),
        # The open queue's name search (migration 0018): per (caisse, status,
        # trigram), open demandes only, so a search in the queue reads its matches.
        Index("ix_demande_queue_open_trgm",
              func.ep_scoped_trgm(column("caisse_id"), column("status"), column("nom_search")),
              postgresql_using="gin", postgresql_where=text(_OPEN_SQL)).ddl_if(dialect="postgresql"),
        # The statistics rollup reads one day of facts (ep_web.domain.statistics).
        Index("ix_demande_created_at", "created_at"),
        Index("ix_demande_taken_at", "taken_at"),
        Index("ix_demande_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    service: Mapped[str] = mapped_column(String(20))  # a Service value
    caisse_id: Mapped[int] = mapped_column(ForeignKey("caisse.id"))
    partenaire_id: Mapped[int] = mapped_column(ForeignKey("partenaire.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    status: Mapped[DemandeStatus] = mapped_column(_enum(DemandeStatus, 40), default=DemandeStatus.TRANSMISE)
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, 40), nullable=True)

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

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Signalements: the caisse contacts the person within 48 hours.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    alert_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # SPEC §7: the caisse may keep a closed demande past the retention period, with a reason.
    retained_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    retention_reason: Mapped[str] = mapped_column(Text, default="")
    # Documents for a partner not habilité go by post (SPEC §4).
    sent_by_post_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The structure wrote (message, complement) and no agent has acted since:
    # the cockpit's "la structure a répondu" tab. Cleared by the caisse's next act.
    partner_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

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

    # ---------------------------------------------------------------- state (SPEC §4 lifecycle)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def status_badge(self) -> str:
        return self.status.badge

    @property
    def awaits_complement(self) -> bool:
        return self.status == DemandeStatus.ATTENTE_COMPLEMENT

    @property
    def can_close(self) -> bool:
        return self._path_to(DemandeStatus.CLOTUREE) is not None

    @property
    def can_ask_complement(self) -> bool:
        return self._path_to(DemandeStatus.ATTENTE_COMPLEMENT) is not None

    def sla_state_at(self, at: datetime) -> str | None:
        """'overdue', 'soon' (less than SLA_SOON left) or 'ok' for an open
        signalement at ``at``; None for anything else."""
        if self.due_at is None or not self.is_open:
            return None
        if past_due(self.due_at, at):
            return "overdue"
        return "soon" if self.due_at - at <= SLA_SOON else "ok"

    @property
    def sla_state(self) -> str | None:
        return self.sla_state_at(now())

    @property
    def is_overdue(self) -> bool:
        return self.sla_state == "overdue"

    def _path_to(self, status: DemandeStatus) -> tuple[DemandeStatus, ...] | None:
        """The moves from the current status to ``status``: the direct one, or
        the take first (SPEC §4: a demande is taken before it is closed or a
        complement is asked); None when ``status`` cannot be reached."""
        if status in TRANSITIONS[self.status]:
            return (status,)
        if self.status == DemandeStatus.TRANSMISE and status in TRANSITIONS[DemandeStatus.PRISE_EN_CHARGE]:
            return (DemandeStatus.PRISE_EN_CHARGE, status)
        return None

    def check_open(self) -> None:
        if not self.is_open:
            raise DomainError("Cette demande est clôturée.")

    def check_move(self, status: DemandeStatus) -> None:
        """Refuse, in French, a move the lifecycle does not allow (directly or through the take)."""
        self.check_open()
        if self._path_to(status) is None:
            raise DomainError(_REFUSALS.get(status) or
                              f"Une demande « {self.status.label.lower()} » ne peut pas passer "
                              f"« {status.label.lower()} ».")

    def move_to(self, status: DemandeStatus, *, at: datetime) -> None:
        """One move of SPEC §4's lifecycle (see TRANSITIONS); any other is refused.
        The acts below are the way in: they record who did what on the timeline."""
        if status not in TRANSITIONS[self.status]:
            self.check_move(status)  # raises: the move needs the take first, or is illegal
            raise DomainError("La demande doit d'abord être prise en charge.")
        self.status = status
        self.updated_at = at

    def record(self, kind: str, actor_id: int | None, at: datetime, **details) -> "DemandeEvent":
        """A line of the timeline (its labels: ep_web.domain.demandes.EVENT_LABELS)."""
        event = DemandeEvent(actor_id=actor_id, at=at, kind=kind, details=details)
        self.events.append(event)
        self.updated_at = at
        return event

    def take(self, agent_id: int, at: datetime) -> bool:
        """An agent takes the demande, or takes over one a colleague holds; the
        timeline says who and when. Returns True for the first take
        (transmise → prise en charge), which is the one the author hears of."""
        self.check_open()
        first = self.status == DemandeStatus.TRANSMISE
        if first:
            self.move_to(DemandeStatus.PRISE_EN_CHARGE, at=at)
            self.taken_at = at
        self.assigned_to_id = agent_id
        self.record("taken", agent_id, at)
        return first

    def _taken_before_acting(self, agent_id: int, at: datetime) -> None:
        # The first act of an agent on a demande nobody took records the take
        # first, so the timeline always says who took it (SPEC §4).
        if self.status == DemandeStatus.TRANSMISE:
            self.take(agent_id, at)

    def answer(self, agent_id: int, at: datetime) -> None:
        """An agent writes to the structure (reply, document): allowed while open;
        a demande nobody took is taken by that agent first."""
        self.check_open()
        self._taken_before_acting(agent_id, at)

    def ask_complement(self, agent_id: int, at: datetime, **details) -> None:
        """prise en charge → en attente de complément (taken first if nobody had)."""
        self.check_move(DemandeStatus.ATTENTE_COMPLEMENT)
        self._taken_before_acting(agent_id, at)
        self.move_to(DemandeStatus.ATTENTE_COMPLEMENT, at=at)
        self.record("complement_requested", agent_id, at, **details)

    def receive_complement(self, author_id: int, at: datetime, **details) -> None:
        """en attente de complément → prise en charge, when the structure answers."""
        self.check_open()
        if not self.awaits_complement:
            raise DomainError(_REFUSALS[DemandeStatus.PRISE_EN_CHARGE])
        self.move_to(DemandeStatus.PRISE_EN_CHARGE, at=at)
        self.record("complement_received", author_id, at, **details)

    def change_caisse(self, caisse_id: int, actor_id: int | None, at: datetime) -> None:
        """The demande goes on to another caisse (the person's file is kept
        there); the timeline says from where, and the statistics count it out
        of one caisse and into the other (ep_web.domain.statistics)."""
        self.check_open()
        if caisse_id == self.caisse_id:
            raise DomainError("La demande est déjà adressée à cette caisse.")
        self.record("caisse_changed", actor_id, at, from_caisse_id=self.caisse_id, to_caisse_id=caisse_id)
        self.caisse_id = caisse_id

    def close(self, agent_id: int, outcome: "Outcome", at: datetime) -> None:
        """→ clôturée with an outcome (taken first if nobody had)."""
        self.check_move(DemandeStatus.CLOTUREE)
        self._taken_before_acting(agent_id, at)
        self.move_to(DemandeStatus.CLOTUREE, at=at)
        self.outcome = outcome
        self.closed_at = at
        self.record("closed", agent_id, at, outcome=outcome.value)


class DemandeEvent(db.Model):
    """The timeline of a demande."""

    __tablename__ = "demande_event"
    # The statistics rollup counts one day of complements asked.
    __table_args__ = (Index("ix_demande_event_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    demande_id: Mapped[int] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    demande = relationship("Demande", back_populates="messages")
    author = relationship("Account")


class ScanStatus(str, enum.Enum):
    """Where a stored file stands with the antivirus (SPEC §4 attachments, §8)."""

    EN_ATTENTE = "en_attente"  # clamd was slow or down at upload: the background job scans it
    SAIN = "sain"
    INFECTE = "infecte"  # never served
    NON_ANALYSE = "non_analyse"  # no antivirus configured (or a file stored before scan states)

    @property
    def label(self) -> str:
        return {"en_attente": "analyse antivirus en cours", "sain": "analysé, sain",
                "infecte": "virus détecté, fichier bloqué", "non_analyse": "non analysé"}[self.value]


class Attachment(db.Model):
    """A file stored outside the web root under a generated name (SPEC §4).
    Belongs to a demande (partner file or caisse document), a ticket or a
    shared resource (SPEC §6)."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    demande_id: Mapped[int | None] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("demande_message.id", ondelete="SET NULL"),
                                                   nullable=True)
    # A shared resource's file (SPEC §6), stored and scanned like any other.
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resource.id", ondelete="CASCADE"), nullable=True,
                                                    index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    from_caisse: Mapped[bool] = mapped_column(Boolean, default=False)
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    scan_status: Mapped[ScanStatus] = mapped_column(_enum(ScanStatus), default=ScanStatus.NON_ANALYSE, index=True)
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The signature clamd named, for an infected file.
    scan_signature: Mapped[str] = mapped_column(String(200), default="")

    demande = relationship("Demande", back_populates="attachments")
    uploaded_by = relationship("Account")

    def downloadable(self, allow_unscanned: bool) -> bool:
        """SPEC §4/§8: a file is served only once the antivirus found it clean,
        or unscanned where the deployment explicitly allows unscanned files."""
        return self.scan_status == ScanStatus.SAIN or (
            allow_unscanned and self.scan_status == ScanStatus.NON_ANALYSE)


class DemandeCounter(db.Model):
    """Per-year sequence for readable references (EP-2026-000123), the same on
    SQLite and PostgreSQL."""

    __tablename__ = "demande_counter"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
