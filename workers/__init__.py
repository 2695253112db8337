"""RQ jobs by area.

The Flask app is built once per process (``get_app``), never once per job:
building it costs about a second, far more than most jobs. ``workers.worker``
builds it before the first job; a job run anywhere else (``rq worker`` with
RQ's own class, a script) builds it on first use and keeps it.
"""
import threading
from contextlib import contextmanager

from flask import current_app, has_app_context

_app = None
_lock = threading.Lock()


def get_app():
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                from ep_web import create_app

                _app = create_app()
    return _app


def set_app(app) -> None:
    """Use an app built elsewhere (the worker class, the scheduler, tests)."""
    global _app
    _app = app


@contextmanager
def app_context():
    if has_app_context():
        yield current_app
        return
    with get_app().app_context():
        yield current_app
