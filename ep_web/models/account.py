import enum
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class Profile(str, enum.Enum):
    """One account = one profile (SPEC §1)."""

    TECHNICIEN = "technicien"
    GESTIONNAIRE = "gestionnaire"
    AGENT = "agent"
    ADMIN_CAISSE = "admin_caisse"
    ADMIN_NATIONAL = "admin_national"

    @property
    def label(self) -> str:
        return {
            "technicien": "Technicien",
            "gestionnaire": "Gestionnaire",
            "agent": "Agent de la caisse",
            "admin_caisse": "Référent partenariat",
            "admin_national": "Administration nationale",
        }[self.value]

    @property
    def is_partner(self) -> bool:
        return self in (Profile.TECHNICIEN, Profile.GESTIONNAIRE)

    @property
    def is_caisse(self) -> bool:
        return self in (Profile.AGENT, Profile.ADMIN_CAISSE)

    @property
    def is_admin(self) -> bool:
        """The caisse's référent or national: those who answer dysfunction tickets (SPEC §5)."""
        return self in (Profile.ADMIN_CAISSE, Profile.ADMIN_NATIONAL)

    @property
    def is_national(self) -> bool:
        return self == Profile.ADMIN_NATIONAL


class AccountStatus(str, enum.Enum):
    PENDING = "pending"  # created, activation link not used yet: counts in quotas
    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETED = "deleted"  # personal data erased (SPEC §3, deletion)

    @property
    def label(self) -> str:
        return {"pending": "En attente d'activation", "active": "Actif", "inactive": "Inactif", "deleted": "Supprimé"}[
            self.value
        ]

    @property
    def badge(self) -> str:
        """The DSFR badge class of the status."""
        return {"pending": "fr-badge--info", "active": "fr-badge--success", "inactive": "fr-badge--error",
                "deleted": ""}[self.value]


SEAT_STATUSES = (AccountStatus.PENDING, AccountStatus.ACTIVE)


class Civilite(str, enum.Enum):
    MADAME = "Mme"
    MONSIEUR = "M."


class Account(UserMixin, db.Model):
    __tablename__ = "account"
    __table_args__ = (
        # A partner's accounts; with their status and profile, the seats in use of a
        # caisse's 2 500 partners counted from the index alone (migration 0024).
        Index("ix_account_partenaire_id", "partenaire_id", postgresql_include=["status", "profile"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(40), unique=True)
    profile: Mapped[Profile] = mapped_column(_enum(Profile))
    status: Mapped[AccountStatus] = mapped_column(_enum(AccountStatus), default=AccountStatus.PENDING, index=True)

    civilite: Mapped[str] = mapped_column(String(10), default="")
    nom: Mapped[str] = mapped_column(String(100), default="")
    prenom: Mapped[str] = mapped_column(String(100), default="")
    fonction: Mapped[str] = mapped_column(String(150), default="")
    telephone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(254), default="")

    partenaire_id: Mapped[int | None] = mapped_column(ForeignKey("partenaire.id"), nullable=True)
    caisse_id: Mapped[int | None] = mapped_column(ForeignKey("caisse.id"), nullable=True, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    # The gestionnaire a technicien is attached to (creator, or successor).
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)

    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cgu_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cgu_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The 3-month idle rule counts from the latest of activation, login and reactivation.
    reactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    inactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    inactivation_reason: Mapped[str] = mapped_column(Text, default="")
    scheduled_inactivation_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The scheduled date came while no other gestionnaire of the structure was
    # active: the departure waits (retried each night); set when the caisse and
    # the partner were told (SPEC §3 [2.2.3]).
    departure_waiting_since: Mapped[date | None] = mapped_column(Date, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    idle_warning_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # News digest e-mail (SPEC §6).
    news_digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    news_digest_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # Second factor (SPEC §3): the TOTP secret (base32) once confirmed; the one
    # being enrolled until its first code is given; the last time step accepted,
    # so that a code is valid once; the end of the 14-day grace of an account that
    # existed before the factor was required of it.
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    second_factor_grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # ProConnect's stable subject, recorded at the first ProConnect login (linked by e-mail then).
    proconnect_sub: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)

    partenaire = relationship("Partenaire", lazy="joined")
    caisse = relationship("Caisse", lazy="joined")
    manager = relationship("Account", remote_side=[id], foreign_keys=[manager_id])

    # Flask-Login keeps this in the signed cookie: the token of the server-side
    # session (ep_web.domain.sessions) the account was loaded through or
    # logged in with, never the account id (a copied or forged cookie must
    # name an open session, not an account).
    session_token = None
    # The open UserSession this request was loaded through (ep_web.domain.sessions.load).
    current_session = None
    # The CGU version and maintenance token read in the same query (ep_web.domain.site_state.Versions).
    request_versions = None

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.status == AccountStatus.ACTIVE

    @property
    def full_name(self) -> str:
        if self.status == AccountStatus.DELETED:
            return "compte supprimé"
        return f"{self.prenom} {self.nom}".strip()

    @property
    def display_name(self) -> str:
        if self.status == AccountStatus.DELETED:
            return "compte supprimé"
        return f"{self.civilite} {self.prenom} {self.nom}".strip()

    @property
    def holds_seat(self) -> bool:
        """Active or not yet activated: counts in the quotas (SPEC §3), and can be inactivated."""
        return self.status in SEAT_STATUSES

    @property
    def is_pending(self) -> bool:
        """Created, activation link not used yet (it may be sent again)."""
        return self.status == AccountStatus.PENDING

    @property
    def is_inactive(self) -> bool:
        return self.status == AccountStatus.INACTIVE

    @property
    def status_badge(self) -> str:
        return self.status.badge

    @property
    def has_second_factor(self) -> bool:
        return self.totp_secret is not None

    def __repr__(self) -> str:
        return f"<Account {self.login} {self.profile.value}>"


class PasswordHistory(db.Model):
    """The last hashes, so a user cannot reuse one of their last 5 (SPEC §3)."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class RecoveryCode(db.Model):
    """A single-use second-factor recovery code (SPEC §3). Only its SHA-256 is
    stored: the codes are random (50 bits), shown once at their creation."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class TokenPurpose(str, enum.Enum):
    ACTIVATION = "activation"
    RESET = "reset"


class AccountToken(db.Model):
    """Single-use, expiring link token. Only its SHA-256 is stored."""

    __tablename__ = "account_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(_enum(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    account = relationship("Account")


class LoginThrottle(db.Model):
    """Failed-login counter keyed by the typed identifier (existing or not) or the
    client IP, so the lock-out behaves the same whether the login exists."""

    __tablename__ = "login_throttle"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CguVersion(db.Model):
    __tablename__ = "cgu_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
