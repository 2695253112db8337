"""WSGI entry point: ``flask --app app run`` or ``gunicorn app:app``."""
from ep_web import create_app

app = create_app()
