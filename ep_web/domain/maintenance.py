"""Maintenance windows (SPEC §5 [3.3]): the portal is available around the clock
except during maintenance announced in advance by national support.

- ``admin_national`` schedules a window (start, end, message) and may cancel it
  before it starts, or end it early while it runs.
- Before a window (``NOTICE_DAYS`` ahead) every page shows a banner with its dates.
- During it every page answers 503 with ``Retry-After`` and each caisse's
  "autre canal", except for ``admin_national`` (who must be able to log in and
  end the window), the login pages and static files.
- The state is read from the database on each request: a window that ends, or
  is ended, lifts the maintenance page without a restart.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ep_web.clock import now
from ep_web.domain.errors import DomainError, NotAllowed
from ep_web.extensions import db
from ep_web.models import Account, MaintenanceWindow, Profile

# How long before a window the banner is shown to every user.
NOTICE_DAYS = 7
# A longer window is almost certainly a typing mistake (a year, a month).
MAX_DURATION = timedelta(days=3)
MESSAGE_MAX = 1000


@dataclass(frozen=True)
class MaintenanceState:
    """What the current request must show: the running window, if any, and the
    next announced ones."""

    current: MaintenanceWindow | None
    upcoming: list[MaintenanceWindow]

    @property
    def active(self) -> bool:
        return self.current is not None


def _require_national(actor: Account) -> None:
    if actor.profile != Profile.ADMIN_NATIONAL:
        raise NotAllowed("Action réservée à l'administration nationale.")


def state(at: datetime | None = None) -> MaintenanceState:
    """SPEC §5: the window running now and those starting within NOTICE_DAYS
    (cancelled and ended windows are ignored). One indexed query."""
    at = at or now()
    windows = db.session.scalars(
        select(MaintenanceWindow)
        .where(
            MaintenanceWindow.cancelled_at.is_(None),
            MaintenanceWindow.ends_at > at,
            MaintenanceWindow.starts_at <= at + timedelta(days=NOTICE_DAYS),
        )
        .order_by(MaintenanceWindow.starts_at)
    ).all()
    current = next((w for w in windows if w.starts_at <= at), None)
    upcoming = [w for w in windows if w.starts_at > at]
    return MaintenanceState(current, upcoming)


def retry_after_seconds(window: MaintenanceWindow, at: datetime | None = None) -> int:
    """Seconds until the window ends (the 503's Retry-After), at least 1 (SPEC §5)."""
    at = at or now()
    remaining = (window.ends_at - at).total_seconds()
    return max(1, int(remaining + 0.999))


def schedule(actor: Account, starts_at: datetime, ends_at: datetime, message: str = "") -> MaintenanceWindow:
    """SPEC §5: admin_national schedules a window. It ends after it starts, does
    not start in the past (to the minute: the form has no seconds), lasts at most
    MAX_DURATION and does not overlap another scheduled window."""
    _require_national(actor)
    current = now()
    message = (message or "").strip()
    if starts_at < current.replace(second=0, microsecond=0):
        raise DomainError("Le début de la maintenance est déjà passé : choisissez une date à venir.", "starts_at")
    if ends_at <= starts_at:
        raise DomainError("La fin de la maintenance doit être postérieure à son début.", "ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise DomainError("Une maintenance ne peut pas durer plus de 3 jours : vérifiez les dates.", "ends_at")
    if len(message) > MESSAGE_MAX:
        raise DomainError(f"Le message ne peut pas dépasser {MESSAGE_MAX} caractères.", "message")
    overlapping = db.session.scalar(
        select(MaintenanceWindow.id).where(
            MaintenanceWindow.cancelled_at.is_(None),
            MaintenanceWindow.starts_at < ends_at,
            MaintenanceWindow.ends_at > starts_at,
        ).limit(1)
    )
    if overlapping:
        raise DomainError("Une autre maintenance est déjà programmée sur cette période.", "starts_at")
    window = MaintenanceWindow(starts_at=starts_at, ends_at=ends_at, message=message, created_by_id=actor.id,
                               created_at=current)
    db.session.add(window)
    db.session.flush()
    return window


def cancel(actor: Account, window: MaintenanceWindow) -> None:
    """SPEC §5: cancel a window that has not started yet (its banner disappears)."""
    _require_national(actor)
    current = now()
    refusal = {"annulee": "Cette maintenance est déjà annulée.", "terminee": "Cette maintenance est terminée.",
               "en_cours": "Cette maintenance a commencé : terminez-la plutôt."}.get(window.state_at(current))
    if refusal:
        raise DomainError(refusal)
    window.cancelled_at = current
    db.session.flush()


def end_now(actor: Account, window: MaintenanceWindow) -> None:
    """SPEC §5: end a running window early: the portal reopens at the next request."""
    _require_national(actor)
    current = now()
    state = window.state_at(current)
    if state in ("annulee", "terminee"):
        raise DomainError("Cette maintenance est déjà terminée.")
    if state == "programmee":
        raise DomainError("Cette maintenance n'a pas commencé : annulez-la plutôt.")
    window.ends_at = current
    db.session.flush()


def windows_for_admin(limit: int = 30) -> list[MaintenanceWindow]:
    """The latest windows, newest first, for the national admin page (SPEC §5)."""
    return list(db.session.scalars(
        select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc(), MaintenanceWindow.id.desc()).limit(limit)
    ))


def window_status(window: MaintenanceWindow, at: datetime | None = None) -> str:
    """SPEC §5: 'annulee', 'terminee', 'en_cours' or 'programmee' (MaintenanceWindow.state_at)."""
    return window.state_at(at or now())
