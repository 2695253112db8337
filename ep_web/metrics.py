"""Prometheus metrics (prometheus-client).

- Per request, counted in the web process: requests by endpoint, method and
  status, and a latency histogram by endpoint. Under gunicorn with several
  worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty folder, wiped
  at each start: deploy/ does it) and every process writes its counts there;
  a scrape adds them up (prometheus-client's multiprocess mode).
- From the database, computed at scrape time (the same answer whichever
  process is scraped): e-mails by status and the age of the oldest pending
  one, the last run, last success, last duration and the runs by status of
  each periodic job (the journal), the age of each worker's heartbeat, the
  open incidents; from Redis when configured, the length of each queue and of
  its failed-job registry.
"""
import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter("ep_http_requests", "Requêtes HTTP traitées", ["endpoint", "method", "status"])
LATENCY = Histogram("ep_http_request_duration_seconds", "Durée de traitement des requêtes HTTP", ["endpoint"],
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def observe(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    endpoint = endpoint or "none"  # 404s: no rule, one series for all of them
    REQUESTS.labels(endpoint, method, str(status)).inc()
    LATENCY.labels(endpoint).observe(seconds)


class DatabaseCollector:
    """Gauges read from the database (and Redis) when scraped."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        up = GaugeMetricFamily("ep_database_up", "La base de données répond au moment de la collecte")
        try:
            families = list(self._from_database())
        except Exception:
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from families
        if self.app.config["REDIS_URL"]:
            yield from self._from_redis()

    def _from_database(self):
        from sqlalchemy import func, select

        from ep_web.clock import now
        from ep_web.extensions import db
        from ep_web.models import EmailStatus, JobRun, MonitorIncident, OutboxEmail, WorkerHeartbeat

        at = now()
        with db.engine.connect() as conn:
            by_status = dict(conn.execute(select(OutboxEmail.status, func.count(OutboxEmail.id))
                                          .group_by(OutboxEmail.status)).all())
            oldest = conn.execute(select(func.min(OutboxEmail.created_at))
                                  .where(OutboxEmail.status == EmailStatus.PENDING)).scalar()
            last = conn.execute(select(JobRun.name, func.max(JobRun.started_at)).group_by(JobRun.name)).all()
            last_ok = conn.execute(select(JobRun.name, func.max(JobRun.started_at))
                                   .where(JobRun.status == "ok").group_by(JobRun.name)).all()
            latest_ids = select(func.max(JobRun.id)).where(JobRun.finished_at.is_not(None)).group_by(JobRun.name)
            durations = conn.execute(select(JobRun.name, JobRun.duration_ms).where(JobRun.id.in_(latest_ids))).all()
            runs = conn.execute(select(JobRun.name, JobRun.status, func.count(JobRun.id))
                                .group_by(JobRun.name, JobRun.status)).all()
            beats = conn.execute(select(WorkerHeartbeat.name, WorkerHeartbeat.kind, WorkerHeartbeat.seen_at)).all()
            incidents = conn.execute(select(func.count(MonitorIncident.id))
                                     .where(MonitorIncident.open_key.is_not(None))).scalar()

        def stamp(value):
            from ep_web.models.base import UTCDateTime

            value = UTCDateTime().process_result_value(value, None)
            return value.timestamp()

        emails = GaugeMetricFamily("ep_emails", "E-mails de la file d'envoi, par état", labels=["status"])
        for status in EmailStatus:
            emails.add_metric([status.value], by_status.get(status, by_status.get(status.value, 0)))
        yield emails
        age = GaugeMetricFamily("ep_emails_oldest_pending_age_seconds", "Âge du plus ancien e-mail en attente")
        age.add_metric([], (at.timestamp() - stamp(oldest)) if oldest is not None else 0)
        yield age
        g = GaugeMetricFamily("ep_job_last_run_timestamp_seconds", "Début de la dernière exécution de chaque tâche",
                              labels=["job"])
        for name, value in last:
            g.add_metric([name], stamp(value))
        yield g
        g = GaugeMetricFamily("ep_job_last_success_timestamp_seconds", "Début de la dernière exécution réussie",
                              labels=["job"])
        for name, value in last_ok:
            g.add_metric([name], stamp(value))
        yield g
        g = GaugeMetricFamily("ep_job_last_duration_seconds", "Durée de la dernière exécution terminée",
                              labels=["job"])
        for name, ms in durations:
            g.add_metric([name], (ms or 0) / 1000)
        yield g
        g = GaugeMetricFamily("ep_job_runs", "Exécutions au journal (90 jours), par tâche et par état",
                              labels=["job", "status"])
        for name, status, count in runs:
            g.add_metric([name, status], count)
        yield g
        g = GaugeMetricFamily("ep_worker_heartbeat_age_seconds", "Depuis quand chaque worker ou planificateur "
                              "n'a pas donné signe de vie", labels=["name", "kind"])
        for name, kind, seen in beats:
            g.add_metric([name, kind], at.timestamp() - stamp(seen))
        yield g
        g = GaugeMetricFamily("ep_incidents_open", "Incidents ouverts (page Tâches)")
        g.add_metric([], incidents or 0)
        yield g

    def _from_redis(self):
        from rq import Queue

        from ep_web.jobs import mail_queue_name, queue_name, redis_connection

        up = GaugeMetricFamily("ep_redis_up", "Redis répond au moment de la collecte")
        length = GaugeMetricFamily("ep_rq_queue_length", "Jobs en attente par file", labels=["queue"])
        failed = GaugeMetricFamily("ep_rq_failed_jobs", "Jobs en échec gardés par RQ, par file", labels=["queue"])
        try:
            conn = redis_connection(self.app)
            for name in (mail_queue_name(self.app.config), queue_name(self.app.config)):
                q = Queue(name, connection=conn)
                length.add_metric([name], q.count)
                failed.add_metric([name], q.failed_job_registry.count)
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield length
        yield failed


def render(app) -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        from prometheus_client import REGISTRY as process_registry
    db_registry = CollectorRegistry()
    db_registry.register(DatabaseCollector(app))
    started = time.perf_counter()
    body = generate_latest(process_registry) + generate_latest(db_registry)
    body += f"# HELP ep_scrape_duration_seconds Durée de la collecte\n# TYPE ep_scrape_duration_seconds gauge\n" \
            f"ep_scrape_duration_seconds {time.perf_counter() - started:.6f}\n".encode()
    return body, CONTENT_TYPE_LATEST
