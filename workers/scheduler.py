"""The scheduler: RQ's cron scheduler (the schedule is workers/cron.py) made
to ride out outages, plus the heartbeat and the monitoring check:

    .venv/bin/python -m workers.scheduler

Run exactly one (the jobs are idempotent: a second one would only do the work
twice). A lost Redis never ends it: it tries again with a backoff and logs
once a minute; a job due meanwhile is queued as soon as Redis is back. The
monitoring check runs here every minute whatever Redis does, and its e-mails
leave from here: the alarm must not depend on the workers it is about.
"""
import logging
import os
import time
from contextlib import suppress

from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from workers import get_app
from workers.heartbeat import Heartbeat, Outage
from workers.worker import REDIS_ERRORS, connect

log = logging.getLogger("workers.scheduler")

TICK_S = 15  # at most this long between two looks at the schedule, the heartbeat and the check
CHECK_EVERY_S = 60


class Scheduler(CronScheduler):
    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app or get_app()
        self.ep_heartbeat = Heartbeat("scheduler", name=os.environ.get("EP_SCHEDULER_NAME") or None)
        self.ep_redis = Outage("Redis", self.log)
        self._ep_checked = 0.0

    def tick(self) -> float:
        """One round: queue what is due, heartbeats, the check. Returns the wait before the next."""
        wait = None
        try:
            if self.enqueue_jobs():
                self.save()
            self.heartbeat()
            if self.ep_redis.down:
                self.ep_redis.ok()
                self._kick_mail()
            state, detail = "scheduling", ""
        except REDIS_ERRORS as exc:
            wait = self.ep_redis.failed(exc)
            state, detail = "redis_unavailable", f"{type(exc).__name__}: {exc}"
        self.ep_heartbeat.beat(state, detail)
        if time.monotonic() - self._ep_checked >= CHECK_EVERY_S:
            self._ep_checked = time.monotonic()
            try:
                from workers.monitor import check_health

                check_health()
            except Exception as exc:
                self.log.warning("monitoring check failed: %s: %s", type(exc).__name__, exc)
        if wait is None:
            wait = min(self.calculate_sleep_interval(), TICK_S)
        return wait

    def _kick_mail(self) -> None:
        from ep_web import jobs

        with self.app.app_context():
            jobs._down_until.clear()
            jobs.kick_mail()

    def start(self):
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        try:
            with suppress(*REDIS_ERRORS):
                self.register_birth()  # heartbeat() registers again if Redis was down here
            while True:
                wait = self.tick()
                if wait > 0:
                    time.sleep(wait)
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            with suppress(*REDIS_ERRORS):
                self.register_death()
            self.ep_heartbeat.stop()
            self.log.info("CronScheduler %s: shutdown complete", self.name)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = get_app()
    if not app.config["REDIS_URL"]:
        raise SystemExit("REDIS_URL n'est pas défini : sans Redis, lancez « flask --app app ep run-jobs » "
                         "périodiquement (cron).")
    scheduler = Scheduler(connection=connect(app.config["REDIS_URL"]), app=app)
    scheduler.load_config_from_file("workers.cron")
    scheduler.start()


if __name__ == "__main__":
    main()
