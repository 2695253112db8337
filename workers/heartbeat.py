"""The heartbeat of a worker or of the scheduler, in the database (where the
web app and the monitoring read it), and the outage log of a process that
waits for Redis or PostgreSQL.

Writing it never raises: a process that cannot reach the database goes on
with its work (or its waiting) and says so in its log once a minute.
"""
import logging
import os
import socket
import time

from sqlalchemy import update

from ep_web.clock import now
from ep_web.extensions import db
from ep_web.models import WorkerHeartbeat
from workers import app_context

log = logging.getLogger(__name__)

EVERY_S = 15  # well inside WORKER_SILENT (2 minutes)
LOG_EVERY_S = 60


class Outage:
    """A lost connection: backoff between tries, a log line each minute, one
    line when it comes back."""

    def __init__(self, what: str, logger=log, first_s: float = 1, max_s: float = 15):
        self.what, self.log, self.first_s, self.max_s = what, logger, first_s, max_s
        self.since = None
        self.delay = first_s
        self._logged = 0.0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before the next try."""
        t = time.monotonic()
        if self.since is None:
            self.since, self.delay = t, self.first_s
        else:
            self.delay = min(self.delay * 2, self.max_s)
        if t - self._logged >= LOG_EVERY_S:
            self._logged = t
            self.log.error("%s unreachable for %d s (%s: %s); trying again every %d s at most",
                           self.what, t - self.since, type(exc).__name__, exc, self.max_s)
        return self.delay

    def ok(self) -> None:
        if self.since is not None:
            self.log.warning("%s reachable again after %d s", self.what, time.monotonic() - self.since)
        self.since, self.delay, self._logged = None, self.first_s, 0.0


class Heartbeat:
    def __init__(self, kind: str, name: str | None = None, queues: str = ""):
        self.kind = kind
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        # systemd's ep-worker@N and the Procfile name their processes: a restart
        # takes its row back. Without a name, host and pid.
        self.name = (name or os.environ.get("EP_WORKER_NAME") or f"{kind}-{self.hostname}-{self.pid}")[:120]
        self.queues = queues[:255]
        self.started_at = None
        self._written = 0.0
        self._state = None
        self.db = Outage("database (heartbeat)")

    def beat(self, state: str, detail: str = "", force: bool = False) -> bool:
        """Write the heartbeat: at once when the state changes, otherwise at
        most every EVERY_S (unless ``force``)."""
        t = time.monotonic()
        if not force and state == self._state and t - self._written < EVERY_S:
            return False
        try:
            with app_context():
                at = now()
                values = {"kind": self.kind, "hostname": self.hostname, "pid": self.pid, "queues": self.queues,
                          "state": state, "detail": detail[:2000], "seen_at": at}
                if self.started_at is None:
                    values["started_at"] = at
                found = db.session.execute(
                    update(WorkerHeartbeat).where(WorkerHeartbeat.name == self.name).values(**values)
                    .execution_options(synchronize_session=False)).rowcount
                if not found:
                    db.session.add(WorkerHeartbeat(name=self.name, **{"started_at": at, **values}))
                db.session.commit()
                self.started_at = self.started_at or at
        except Exception as exc:
            _rollback()
            self.db.failed(exc)
            return False
        self._written, self._state = t, state
        self.db.ok()
        return True

    def stop(self) -> None:
        """A clean stop: the row goes, so that nobody is told this process is silent."""
        try:
            with app_context():
                db.session.execute(WorkerHeartbeat.__table__.delete().where(WorkerHeartbeat.name == self.name))
                db.session.commit()
        except Exception:
            _rollback()
            log.warning("could not remove the heartbeat of %s", self.name, exc_info=True)


def _rollback() -> None:
    try:
        with app_context():
            db.session.rollback()
    except Exception:
        pass
