"""What every request needs besides the user — the CGU version in force
(SPEC §3 first login) and whether the maintenance windows changed (SPEC §5) —
read in one round trip of two index lookups, and the maintenance windows kept
in this process until their token changes.

The token is rewritten by database triggers on every change of the windows
(migration 0011), whoever makes it and on whichever server: a window ended
early lifts the maintenance page at the next request everywhere, and the
windows are not read again on the requests in between."""
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ep_web.extensions import db
from ep_web.models import AppState, CguVersion, MaintenanceWindow

# A safety net only: the triggers are what keeps the copy right.
MAX_AGE_S = 300


@dataclass(frozen=True)
class Versions:
    maintenance_token: str | None
    cgu_version: int | None


@dataclass(frozen=True)
class WindowView:
    """A maintenance window as the banner and the 503 page show it (kept across requests)."""

    id: int
    starts_at: datetime
    ends_at: datetime
    message: str


def versions_columns():
    """The maintenance token and the highest CGU version, as two scalar
    subqueries (also read with the user: ep_web.domain.sessions.load)."""
    return (select(AppState.maintenance_token).where(AppState.id == 1).scalar_subquery(),
            select(func.max(CguVersion.version)).scalar_subquery())


def read_versions() -> Versions:
    """One query: the maintenance token and the highest CGU version (prepared on PostgreSQL)."""
    from ep_web.prepared import prepared

    row = db.session.execute(prepared(select(*versions_columns()))).one()
    return Versions(row[0], row[1])


_lock = threading.Lock()
_cache: dict = {"token": None, "since": None, "windows": None, "loaded": 0.0}


def _load_windows(since: datetime) -> list[WindowView]:
    rows = db.session.execute(
        select(MaintenanceWindow.id, MaintenanceWindow.starts_at, MaintenanceWindow.ends_at, MaintenanceWindow.message)
        .where(MaintenanceWindow.cancelled_at.is_(None), MaintenanceWindow.ends_at > since)
        .order_by(MaintenanceWindow.starts_at)).all()
    return [WindowView(r.id, r.starts_at, r.ends_at, r.message or "") for r in rows]


def windows_at(token: str | None, at: datetime, notice: timedelta):
    """(current, upcoming) at ``at`` (SPEC §5): the window running then, and
    those starting within ``notice``; from this process's copy while the token
    has not changed (and ``at`` is not before the copy was taken)."""
    with _lock:
        c = dict(_cache)
    fresh = (token is not None and c["token"] == token and c["since"] is not None and at >= c["since"]
             and time.monotonic() - c["loaded"] < MAX_AGE_S)
    if fresh:
        windows = c["windows"]
    else:
        windows = _load_windows(at)
        if token is not None:
            with _lock:
                _cache.update(token=token, since=at, windows=windows, loaded=time.monotonic())
    live = [w for w in windows if w.ends_at > at and w.starts_at <= at + notice]
    current = next((w for w in live if w.starts_at <= at), None)
    return current, [w for w in live if w.starts_at > at]


def forget() -> None:
    """Tests: start from an empty cache."""
    with _lock:
        _cache.update(token=None, since=None, windows=None, loaded=0.0)
