"""Run a job on RQ when ``REDIS_URL`` is set, in-process otherwise.

Jobs receive ids, never objects. A failure to reach Redis never loses work:
the outbox row stays pending and the periodic flush (or the first worker to
see Redis again) sends it later.

E-mails have a queue of their own (``RQ_MAIL_QUEUE``, listed first by the
workers): they never wait behind a nightly sweep. A commit does not queue one
job per e-mail: it *kicks* the mail queue — one ``workers.mail.drain`` job is
queued unless one is already waiting — and that job claims every due e-mail
at once (see workers/mail.py). Under load, twenty commits make one job.
"""
import importlib
import logging
import time
from datetime import timedelta

from flask import current_app, g, has_app_context

log = logging.getLogger(__name__)

# The web side must not hang on Redis: a request waits at most this long
# before leaving its e-mails to the flush.
REDIS_CONNECT_TIMEOUT_S = 1
REDIS_SOCKET_TIMEOUT_S = 2
# After a failure, this process leaves Redis alone for a while instead of
# paying the connection timeout on every request.
REDIS_RETRY_AFTER_S = 5
# A kick older than this is forgotten (its job was lost): the next commit queues another.
KICK_TTL_S = 60
DRAIN = "workers.mail.drain"
# A drain job's outcome lives in the outbox rows, not in RQ: no result to
# keep, and a failed one (database down, worker killed) says nothing the
# outbox and /national/taches do not say better — it leaves RQ's failed list
# after an hour instead of crowding out real failures for a year.
DRAIN_OPTIONS = {"result_ttl": 0, "failure_ttl": 3600}

_down_until: dict[str, float] = {}


def queue_name(config=None) -> str:
    return (config or current_app.config)["RQ_QUEUE"]


def mail_queue_name(config=None) -> str:
    config = config or current_app.config
    return config.get("RQ_MAIL_QUEUE") or f"{config['RQ_QUEUE']}-mail"


def redis_connection(app=None):
    """One client per app and URL (a pool of connections, thread-safe, reset
    after a fork by redis-py itself)."""
    from redis import Redis

    app = app or current_app._get_current_object()
    url = app.config["REDIS_URL"]
    cached = app.extensions.get("ep_redis")
    if cached is None or cached[0] != url:
        conn = Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
                              socket_timeout=REDIS_SOCKET_TIMEOUT_S, health_check_interval=30)
        cached = app.extensions["ep_redis"] = (url, conn)
    return cached[1]


def get_queue(name: str | None = None):
    from rq import Queue

    return Queue(name or queue_name(), connection=redis_connection())


def _redis_usable() -> bool:
    url = current_app.config["REDIS_URL"]
    return bool(url) and _down_until.get(url, 0) <= time.monotonic()


def _redis_failed(what: str) -> None:
    url = current_app.config["REDIS_URL"]
    _down_until[url] = time.monotonic() + REDIS_RETRY_AFTER_S
    log.warning("Redis unreachable (%s); left for the periodic flush", what, exc_info=True)


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def enqueue(path: str, *args, queue: str | None = None, **options) -> None:
    if current_app.config["REDIS_URL"]:
        if not _redis_usable():
            return
        try:
            get_queue(queue).enqueue(path, *args, **options)
        except Exception:  # Redis down: the periodic flush picks the work up
            _redis_failed(f"enqueue {path}")
        return
    try:
        _resolve(path)(*args)
    except Exception:
        log.exception("in-process job %s%r failed", path, args)


def _drain_timeout() -> int:
    from workers.mail import DRAIN_TIMEOUT_S

    return DRAIN_TIMEOUT_S


def kick_key(config=None) -> str:
    return f"ep:{mail_queue_name(config)}:kick"


def kick_mail() -> bool:
    """Make sure one drain job is waiting on the mail queue. True if this call queued it."""
    if not _redis_usable():
        return False
    try:
        conn = redis_connection()
        if not conn.set(kick_key(), "1", nx=True, ex=KICK_TTL_S):
            return False  # a drain job is already waiting: it will claim our e-mails too
        get_queue(mail_queue_name()).enqueue(DRAIN, **DRAIN_OPTIONS, job_timeout=_drain_timeout())
        return True
    except Exception:
        _redis_failed("mail kick")
        return False


def schedule_mail_retry(delay: timedelta) -> None:
    """A drain job at the time the first retry is due (RQ's scheduler, run by
    the workers), on the mail queue: a retry never waits for the periodic flush
    nor behind unrelated jobs."""
    if not _redis_usable():
        return
    try:
        get_queue(mail_queue_name()).enqueue_in(delay, DRAIN, **DRAIN_OPTIONS, job_timeout=_drain_timeout())
    except Exception:
        _redis_failed("mail retry")


def dispatch_emails(email_ids: list[int]) -> None:
    """After a commit: RQ sends them (kick), or this process does, now."""
    if not email_ids:
        return
    if current_app.config["REDIS_URL"]:
        kick_mail()
        return
    try:
        _resolve("workers.mail.send_emails")(email_ids)
    except Exception:
        log.exception("in-process sending of e-mails %r failed; left for the periodic flush", email_ids)


AFTER_RESPONSE_KEY = "ep_after_response"


def enqueue_after_response(path: str, *args) -> None:
    """Run a job outside the request, so that its work never shows in the
    answer's content or time (SPEC §3 « Mot de passe oublié »): queued on RQ
    now, or — without Redis, or when Redis refuses it — run by this process
    once the response has been sent (``response.call_on_close``), never
    inside the request. Jobs receive plain values, never objects."""
    if current_app.config["REDIS_URL"] and _redis_usable():
        try:
            get_queue().enqueue(path, *args)
            return
        except Exception:
            _redis_failed(f"enqueue {path}")
    g.setdefault(AFTER_RESPONSE_KEY, []).append((path, args))


def register_after_response(app) -> None:
    """The response carries the jobs of :func:`enqueue_after_response`: the
    server runs them when it closes the response, after the last byte went out."""

    @app.after_request
    def _run_after_response(response):
        pending = g.pop(AFTER_RESPONSE_KEY, None)
        if pending:
            response.call_on_close(lambda: _run_pending(app, pending))
        return response


def _run_pending(app, pending) -> None:
    def run_all():
        for path, args in pending:
            try:
                _resolve(path)(*args)
            except Exception:
                log.exception("after-response job %s failed", path)

    if has_app_context():  # a test client closing the response inside the test's context
        run_all()
        return
    with app.app_context():
        run_all()


def dispatch_scans(attachment_ids: list[int]) -> None:
    """After a commit: the files clamd could not scan at upload go to the RQ
    job ``workers.files.scan_attachments``. Without Redis they are left to
    the periodic ``scan_pending_files`` (``flask ep run-jobs``): scanning them
    again at once, in the request that just waited for a slow or absent
    clamd, would make the user wait a second time for nothing."""
    if attachment_ids and current_app.config["REDIS_URL"]:
        enqueue("workers.files.scan_attachments", list(attachment_ids), job_timeout=1800)
