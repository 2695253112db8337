"""In-app notifications, e-mail preferences and followers of a demande (SPEC §6).

A notification names its object by a reference and a link only: like an
e-mail, it never carries personal data of an insured person (SPEC §8)."""
import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models.base import UTCDateTime, _enum


class NotificationKind(str, enum.Enum):
    """The kinds of event a user chooses e-mails for (SPEC §6, "per kind of event")."""

    DEMANDE = "demande"
    COMPLEMENT = "complement"
    DOCUMENT = "document"
    TICKET = "ticket"
    ACCOUNT = "account"
    REVIEW = "review"
    NEWS = "news"

    @property
    def label(self) -> str:
        return NOTIFICATION_KIND_LABELS[self]


NOTIFICATION_KIND_LABELS = {
    NotificationKind.DEMANDE: "Suivi des demandes (prise en charge, réponse de la caisse, clôture)",
    NotificationKind.COMPLEMENT: "Complément demandé par la caisse",
    NotificationKind.DOCUMENT: "Document disponible",
    NotificationKind.TICKET: "Réponse à un signalement de problème",
    NotificationKind.ACCOUNT: "Comptes (création, inactivation, réactivation, inactivation prochaine)",
    NotificationKind.REVIEW: "Revue des habilitations",
    NotificationKind.NEWS: "Actualités publiées",
}

# The kinds each profile can receive: the preferences page offers only these.
KINDS_BY_PROFILE = {
    "technicien": (NotificationKind.DEMANDE, NotificationKind.COMPLEMENT, NotificationKind.DOCUMENT,
                   NotificationKind.TICKET, NotificationKind.ACCOUNT, NotificationKind.NEWS),
    "gestionnaire": (NotificationKind.ACCOUNT, NotificationKind.REVIEW, NotificationKind.TICKET,
                     NotificationKind.NEWS),
    "agent": (),
    "admin_caisse": (),
    "admin_national": (),
}


class EmailMode(str, enum.Enum):
    """How a user wants the e-mail of a kind of event (SPEC §6)."""

    IMMEDIATE = "immediate"
    DIGEST = "digest"
    NEVER = "never"

    @property
    def label(self) -> str:
        return {"immediate": "Immédiatement", "digest": "Dans un résumé quotidien", "never": "Jamais"}[self.value]


class Notification(db.Model):
    """One line of a user's notification centre."""

    __tablename__ = "notification"
    __table_args__ = (
        # The centre's list, newest first.
        Index("ix_notification_account_created", "account_id", "created_at", "id"),
        # The bell: unread ones only, so the count reads a few index entries.
        Index("ix_notification_unread", "account_id", "event",
              postgresql_where=text("read_at IS NULL"), sqlite_where=text("read_at IS NULL")),
        # The daily digest: waiting ones only.
        Index("ix_notification_digest", "account_id",
              postgresql_where=text("digest_pending"), sqlite_where=text("digest_pending")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind))
    # What happened, finer than the kind (reply, status, complement, answered…): the home's counters.
    event: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(String(300))
    link: Mapped[str] = mapped_column(String(300))
    demande_id: Mapped[int | None] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), nullable=True,
                                                   index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Waits for the next daily digest (the user chose it for this kind).
    digest_pending: Mapped[bool] = mapped_column(Boolean, default=False)

    account = relationship("Account")


class NotificationPreference(db.Model):
    """A user's e-mail choice for one kind of event; no row means immediately."""

    __tablename__ = "notification_preference"

    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind), primary_key=True)
    mode: Mapped[EmailMode] = mapped_column(_enum(EmailMode))


class DemandeFollower(db.Model):
    """A technicien of the structure following a demande (its author does, from
    the start; a colleague may; a hand-over adds one)."""

    __tablename__ = "demande_follower"

    demande_id: Mapped[int] = mapped_column(ForeignKey("demande.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    account = relationship("Account")
