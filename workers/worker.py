"""The RQ worker of Espace Partenaires:

    .venv/bin/python -m workers.worker            # the mail queue first, then the others
    .venv/bin/python -m workers.worker --burst    # until the queues are empty

- the Flask app is built once, before the first job; each job runs in a work
  horse forked from this process (RQ's isolation: a job that crashes or hangs
  is killed, the worker lives on) with a fresh app context and a fresh
  database pool (a forked process must not share the parent's sockets);
- a lost Redis never ends the process: RQ's own loop gives up on some errors
  ("quitting..."), so ``work`` waits for Redis with a backoff, logs once a
  minute, and starts again; on the way back it kicks the mail queue (the
  e-mails committed meanwhile could not queue their job);
- a lost PostgreSQL fails the jobs that need it (their work stays in the
  database as pending rows, taken again later) and the heartbeat says so in
  the log; the process goes on;
- a heartbeat in the database every 15 s (``workers.heartbeat``), and the
  monitoring check every minute (``workers.monitor``).
"""
import argparse
import logging
import os
import time
from contextlib import suppress

import redis
from rq import Worker as RQWorker
from rq.worker import WorkerStatus

from workers import get_app, set_app
from workers.heartbeat import Heartbeat, Outage

log = logging.getLogger("workers.worker")

CHECK_EVERY_S = 60
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class Worker(RQWorker):
    # RQ's default (420 s) makes an idle worker block for 405 s between two
    # heartbeats; ours must come back well within WORKER_SILENT.
    DEFAULT_TTL = 60

    def __init__(self, *args, app=None, **kwargs):
        if not kwargs.get("worker_ttl"):
            kwargs["worker_ttl"] = self.DEFAULT_TTL
        super().__init__(*args, **kwargs)
        self.app = app or get_app()
        set_app(self.app)
        self.ep_heartbeat = Heartbeat("worker", queues=",".join(self.queue_names()))
        self.ep_redis = Outage("Redis", self.log)
        self._ep_stopping = False
        self._ep_checked = 0.0

    # ------------------------------------------------------------ lifetime

    def register_birth(self):
        """A worker restarted under the same name (systemd's ep-worker@N, after
        a SIGKILL or a crash) finds its predecessor's key still in Redis for up
        to worker_ttl + 60 s, and RQ would refuse to start ("There exists an
        active worker named ..."): the supervisor would restart it in a loop,
        nobody sending e-mail meanwhile. A namesake registered from this host
        whose process is gone is dead: its death is recorded, as RQ does on a
        clean stop, and this one is born in its place."""
        with suppress(*REDIS_ERRORS):
            hostname, pid, death = self.connection.hmget(self.key, "hostname", "pid", "death")
            if hostname is not None and death is None and hostname.decode() == self.hostname and pid is not None:
                pid = int(pid)
                if pid == os.getpid() or not _process_alive(pid):
                    self.log.warning("Worker %s: the previous process of this name (pid %s) is dead; taking its place",
                                     self.name, pid)
                    self.register_death()
        super().register_birth()

    def request_stop(self, signum, frame):
        self._ep_stopping = True
        super().request_stop(signum, frame)

    def work(self, burst: bool = False, **kwargs) -> bool:
        worked = False
        crash_wait = 1.0
        while True:
            started = time.monotonic()
            try:
                worked = super().work(burst=burst, **kwargs) or worked
            except REDIS_ERRORS as exc:  # raised past RQ's loop (its teardown)
                self.log.error("Worker %s: Redis lost (%s)", self.name, exc)
            if burst or self._ep_stopping or kwargs.get("max_jobs") or kwargs.get("max_idle_time"):
                break
            # RQ's loop ended without being asked to: a lost connection, or a bug.
            self._wait_for_redis()
            crash_wait = 1.0 if time.monotonic() - started > 60 else min(crash_wait * 2, 30)
            time.sleep(crash_wait)
            self.log.warning("Worker %s: starting again", self.name)
        self.ep_heartbeat.stop()
        return worked

    def _wait_for_redis(self) -> None:
        while not self._ep_stopping:
            try:
                self.connection.ping()
            except REDIS_ERRORS as exc:
                wait = self.ep_redis.failed(exc)
                self.ep_heartbeat.beat("redis_unavailable", f"{type(exc).__name__}: {exc}")
                self._check()
                time.sleep(wait)
                continue
            if self.ep_redis.down:
                self.ep_redis.ok()
            # Our key may outlive the crash (Redis kept its data): it would make
            # register_birth refuse "an active worker named ... already".
            with suppress(*REDIS_ERRORS):
                if not self.connection.hexists(self.key, "death"):
                    self.connection.delete(self.key)
            self._kick_mail()
            return

    def _kick_mail(self) -> None:
        from ep_web import jobs

        with self.app.app_context():
            jobs._down_until.clear()
            jobs.kick_mail()

    def teardown(self):
        # RQ's teardown stops at the first Redis error: do each step anyway.
        if self.is_horse:
            return
        if self.scheduler:
            with suppress(Exception):
                self.stop_scheduler()
        with suppress(*REDIS_ERRORS):
            self.register_death()
        with suppress(Exception):
            self.pubsub_thread.stop()
        with suppress(Exception):
            self.pubsub.close()

    # ------------------------------------------------------------ heartbeat

    def heartbeat(self, timeout=None, pipeline=None):
        try:
            super().heartbeat(timeout, pipeline)
        except REDIS_ERRORS as exc:
            if not self.is_horse:
                self.ep_heartbeat.beat("redis_unavailable", f"{type(exc).__name__}: {exc}")
            raise
        if not self.is_horse:
            busy = self._state == WorkerStatus.BUSY
            self.ep_heartbeat.beat("busy" if busy else "idle")
            self._check()

    def _check(self) -> None:
        if time.monotonic() - self._ep_checked < CHECK_EVERY_S:
            return
        self._ep_checked = time.monotonic()
        try:
            from workers.monitor import check_health

            check_health()
        except Exception as exc:
            self.log.warning("monitoring check failed: %s: %s", type(exc).__name__, exc)

    # ------------------------------------------------------------ jobs

    def main_work_horse(self, job, queue):
        # The horse is a fork: a pool of its own, never the parent's sockets.
        from ep_web.extensions import db

        with self.app.app_context():
            db.engine.dispose(close=False)
        super().main_work_horse(job, queue)

    def perform_job(self, job, queue) -> bool:
        # A fresh app context (and so a fresh database session) for each job.
        with self.app.app_context():
            return super().perform_job(job, queue)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def queues_for(app) -> list[str]:
    from ep_web.jobs import mail_queue_name, queue_name

    return [mail_queue_name(app.config), queue_name(app.config)]


def connect(url: str):
    # socket_keepalive: a Redis that vanished without closing the connection
    # (a machine, a network) is noticed instead of waited for forever.
    return redis.Redis.from_url(url, socket_keepalive=True, health_check_interval=30)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Worker RQ d'Espace Partenaires")
    parser.add_argument("--burst", action="store_true", help="s'arrête quand les files sont vides")
    parser.add_argument("--name", default=os.environ.get("EP_WORKER_NAME") or None)
    parser.add_argument("--no-scheduler", action="store_true",
                        help="sans le planificateur d'RQ (les nouvelles tentatives d'envoi programmées)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = get_app()
    url = app.config["REDIS_URL"]
    if not url:
        raise SystemExit("REDIS_URL n'est pas défini : sans Redis, lancez « flask --app app ep run-jobs » "
                         "périodiquement (les e-mails partent alors depuis l'application web).")
    worker = Worker(queues_for(app), connection=connect(url), name=args.name, app=app)
    worker.work(burst=args.burst, with_scheduler=not args.no_scheduler)


if __name__ == "__main__":
    main()
