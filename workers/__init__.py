"""RQ jobs by area. Each job builds the app itself when run by ``rq worker``."""
from contextlib import contextmanager

from flask import current_app, has_app_context


@contextmanager
def app_context():
    if has_app_context():
        yield current_app
        return
    from ep_web import create_app

    app = create_app()
    with app.app_context():
        yield app
