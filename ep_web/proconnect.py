"""ProConnect (OpenID Connect), an optional way in (SPEC §3)."""
from flask import current_app


def enabled() -> bool:
    return bool(current_app.config.get("PROCONNECT_DISCOVERY_URL") and current_app.config.get("PROCONNECT_CLIENT_ID"))


def end_session_url() -> str | None:
    return None
