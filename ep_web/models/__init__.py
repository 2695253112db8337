"""One module per noun; importing this package registers every table."""
from ep_web.models.account import (  # noqa: F401
    SEAT_STATUSES,
    Account,
    AccountStatus,
    AccountToken,
    CguVersion,
    Civilite,
    LoginThrottle,
    PasswordHistory,
    Profile,
    RecoveryCode,
    TokenPurpose,
)
from ep_web.models.audit import AuditEvent  # noqa: F401
from ep_web.models.breach import BreachReport, Qualification  # noqa: F401
from ep_web.models.caisse import Caisse  # noqa: F401
from ep_web.models.convention import LIVE_STATES, SERVICE_LABELS, Convention, ConventionState, Service  # noqa: F401
from ep_web.models.demande import (  # noqa: F401
    GENERAL_OUTCOMES,
    OPEN_STATUSES,
    OUTCOME_LABELS,
    SIGNALEMENT_OUTCOMES,
    SLA_SOON,
    TRANSITIONS,
    Attachment,
    Demande,
    DemandeCounter,
    DemandeEvent,
    DemandeMessage,
    DemandeStatus,
    Outcome,
    ScanStatus,
    past_due,
)
from ep_web.models.draft import DemandeDraft  # noqa: F401
from ep_web.models.monitoring import MonitorIncident, WorkerHeartbeat  # noqa: F401
from ep_web.models.notification import (  # noqa: F401
    KINDS_BY_PROFILE,
    DemandeFollower,
    EmailMode,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from ep_web.models.outbox import EmailStatus, OutboxEmail  # noqa: F401
from ep_web.models.partenaire import PARTENAIRE_TYPE_LABELS, Partenaire, PartenaireType  # noqa: F401
from ep_web.models.requests import (  # noqa: F401
    GestionnaireRequest,
    HabilitationReview,
    RequestKind,
    RequestStatus,
    ReviewDecision,
    ReviewItem,
)
from ep_web.models.session import SessionEnd, UserSession  # noqa: F401
from ep_web.models.stats import (  # noqa: F401
    ALL_PARTNERS,
    InformationSession,
    Resource,
    ResourceSubscription,
    StatDay,
    StatMonth,
    StatMonthTable,
    StatState,
    StatYear,
    StatYearTable,
)
from ep_web.models.support import (  # noqa: F401
    AppState,
    JobRun,
    MaintenanceWindow,
    News,
    NewsRead,
    Ticket,
    TicketMessage,
    TicketStatus,
)


def include_object_for(dialect_name: str):
    """For Alembic's schema comparison (migrations/env.py, tests/test_migrations.py):
    an index the models create on one database only (``Index(...).ddl_if(dialect=...)``)
    is left out of the comparison on the others — Alembic does not read ddl_if."""

    def include_object(obj, name, type_, reflected, compare_to):
        ddl_if = getattr(obj, "_ddl_if", None) if type_ == "index" and not reflected else None
        return ddl_if is None or ddl_if.dialect is None or ddl_if.dialect == dialect_name

    return include_object
