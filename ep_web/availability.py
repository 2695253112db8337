"""What the 500 and 503 pages show when the database is gone: each caisse's
"autre canal" (SPEC §2, §5), cached in this process and in the instance
folder (a process started during an outage still has it).

The cache is refreshed after an ordinary request, at most every
REFRESH_EVERY_S, on a connection of its own (never the request's session).
"""
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from flask import Flask, current_app

log = logging.getLogger(__name__)

REFRESH_EVERY_S = 600
_lock = threading.Lock()
_memory: dict = {"at": None, "channels": None}


def _path(app: Flask) -> Path:
    return Path(app.instance_path) / "autres_canaux.json"


def load_channels() -> list[dict]:
    """From the database: the caisses, their départements and their other channel."""
    from sqlalchemy import select

    from ep_web.extensions import db
    from ep_web.models import Caisse

    with db.engine.connect() as conn:
        rows = conn.execute(select(Caisse.name, Caisse.departements, Caisse.autre_canal, Caisse.referent_email)
                            .order_by(Caisse.name)).all()
    return [{"name": r.name, "departement_list": [d.strip().upper() for d in (r.departements or "").split(",")
                                                  if d.strip()],
             "autre_canal": r.autre_canal or "", "referent_email": r.referent_email or ""} for r in rows]


def refresh(app: Flask | None = None) -> list[dict]:
    app = app or current_app._get_current_object()
    channels = load_channels()
    with _lock:
        _memory.update(at=time.monotonic(), channels=channels)
    path = _path(app)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".autres_canaux.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(channels, f, ensure_ascii=False)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except OSError:
        log.warning("could not write %s", path, exc_info=True)
    return channels


def refresh_if_stale(app: Flask) -> None:
    at = _memory["at"]
    if at is not None and time.monotonic() - at < REFRESH_EVERY_S:
        return
    with _lock:
        _memory["at"] = time.monotonic()  # one refresh at a time, and none again at once if it fails
    try:
        refresh(app)
    except Exception:
        log.warning("could not refresh the caisses' other channels", exc_info=True)


def cached_channels(app: Flask | None = None) -> list[dict]:
    """Never touches the database."""
    if _memory["channels"] is not None:
        return _memory["channels"]
    app = app or current_app._get_current_object()
    try:
        channels = json.loads(_path(app).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    with _lock:
        if _memory["channels"] is None:
            _memory["channels"] = channels
    return channels


def forget() -> None:
    """Tests: start from an empty cache."""
    with _lock:
        _memory.update(at=None, channels=None)
