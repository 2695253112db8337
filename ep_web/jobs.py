"""Run a job on RQ when ``REDIS_URL`` is set, in-process otherwise.

Jobs receive ids, never objects. A failure to reach Redis never loses work:
the outbox row stays pending and the periodic flush sends it later.
"""
import importlib
import logging

from flask import current_app

log = logging.getLogger(__name__)


def get_queue():
    from redis import Redis
    from rq import Queue

    url = current_app.config["REDIS_URL"]
    return Queue(current_app.config["RQ_QUEUE"], connection=Redis.from_url(url))


def _resolve(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def enqueue(path: str, *args) -> None:
    if current_app.config["REDIS_URL"]:
        try:
            get_queue().enqueue(path, *args)
        except Exception:  # Redis down: the periodic flush picks the work up
            log.exception("could not enqueue %s%r; left for the periodic flush", path, args)
        return
    try:
        _resolve(path)(*args)
    except Exception:
        log.exception("in-process job %s%r failed", path, args)
