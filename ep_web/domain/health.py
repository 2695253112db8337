"""Readiness (README "Production"): can this web process serve requests?"""
from flask import current_app
from sqlalchemy import text

from ep_web.extensions import db


def readiness() -> dict[str, str]:
    """"ok", or the reason, for the database and (when configured) Redis. Read
    on connections of their own: the request's session is never touched."""
    checks = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"{type(exc).__name__}"
    if current_app.config["REDIS_URL"]:
        from ep_web.jobs import redis_connection

        try:
            redis_connection().ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"{type(exc).__name__}"
    return checks
