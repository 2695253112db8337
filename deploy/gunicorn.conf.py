"""gunicorn settings for Espace Partenaires (deploy/systemd/ep-web.service, Procfile).

Several worker processes share the Prometheus counters through
PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode): the folder
is emptied before gunicorn starts (ExecStartPre / the Procfile), and the
files of a worker process that exits are merged by ``child_exit``.
"""
import os

from ep_web.logredact import gunicorn_logger_class

bind = os.environ.get("EP_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("EP_WEB_WORKERS", "2"))
threads = int(os.environ.get("EP_WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 30
# The app is imported once in the master: workers fork with it built.
preload_app = True
# A safety net only (a worker's memory is flat under the pages' load:
# bench/run.py): each worker is replaced after about this many requests, the
# jitter keeping them from restarting together. The fork from the preloaded
# master is quick.
max_requests = int(os.environ.get("EP_WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
accesslog = "-"
# SPEC §8: no person's name in any log line. The history and queue searches
# carry it in the query string (and browsers in the Referer): the access log's
# request line, query and headers are masked (ep_web/logredact.py).
logger_class = gunicorn_logger_class()


def pre_fork(server, worker):
    # The preloaded app's objects frozen, and a first generation of 50 000
    # objects (ep_web/gctune.py says why): inherited by the worker forked next.
    from ep_web import gctune

    gctune.tune()


def post_fork(server, worker):
    # The master built the app (preload_app): each worker opens its own database connections.
    from app import app
    from ep_web.extensions import db

    with app.app_context():
        db.engine.dispose(close=False)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
