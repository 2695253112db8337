"""Settings read from the environment (``EP_`` prefix), with defaults that run as-is.

Nothing needs to be running for the defaults: SQLite in ``instance/``, jobs run
in-process when ``REDIS_URL`` is unset, e-mails written to ``instance/outbox``
and printed when no SMTP host is set.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on", "oui"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'instance' / 'ep.sqlite3'}"
    # Heroku-style URLs and bare postgresql:// both go through psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    SECRET_KEY = os.environ.get("EP_SECRET_KEY") or os.environ.get("SECRET_KEY") or "dev-only-change-me"
    DEBUG = _bool("EP_DEBUG", False)
    TESTING = False

    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    DB_CONNECT_TIMEOUT = _int("EP_DB_CONNECT_TIMEOUT", 5)  # seconds (PostgreSQL)

    REDIS_URL = os.environ.get("REDIS_URL", "")
    RQ_QUEUE = os.environ.get("EP_RQ_QUEUE", "ep")
    # E-mails have their own queue, listed first by the workers (default "<RQ_QUEUE>-mail").
    RQ_MAIL_QUEUE = os.environ.get("EP_RQ_MAIL_QUEUE", "")
    # E-mails claimed at once by one sending job, sent over one SMTP connection.
    MAIL_BATCH = _int("EP_MAIL_BATCH", 100)
    # Sending results committed together: after a worker is killed mid-batch,
    # at most this many e-mails are "envoi interrompu" (to check by hand).
    MAIL_CHUNK = _int("EP_MAIL_CHUNK", 10)
    # /metrics: a bearer token; without one, loopback requests only.
    METRICS_TOKEN = os.environ.get("EP_METRICS_TOKEN", "")

    # Mail: SMTP when EP_SMTP_HOST is set, otherwise a local outbox folder.
    SMTP_HOST = os.environ.get("EP_SMTP_HOST", "")
    SMTP_PORT = _int("EP_SMTP_PORT", 25)
    SMTP_USER = os.environ.get("EP_SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("EP_SMTP_PASSWORD", "")
    SMTP_STARTTLS = _bool("EP_SMTP_STARTTLS", False)
    SMTP_SSL = _bool("EP_SMTP_SSL", False)
    SMTP_TIMEOUT = _int("EP_SMTP_TIMEOUT", 10)
    MAIL_FROM = os.environ.get("EP_MAIL_FROM", "Espace Partenaires <ne-pas-repondre@espace-partenaires.example>")
    MAIL_OUTBOX_DIR = os.environ.get("EP_MAIL_OUTBOX_DIR", str(BASE_DIR / "instance" / "outbox"))
    MAIL_PRINT = _bool("EP_MAIL_PRINT", True)

    # Public base URL used in e-mail links.
    BASE_URL = os.environ.get("EP_BASE_URL", f"http://127.0.0.1:{_int('PORT', 5000)}")

    # Sessions (SPEC §3): idle 30 min, absolute 12 h. The __Host- prefix needs
    # Secure, which browsers refuse over plain http: in debug we drop both.
    SESSION_COOKIE_NAME = "__Host-ep_session"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_PATH = "/"
    REMEMBER_COOKIE_SECURE = True
    SESSION_IDLE_MINUTES = _int("EP_SESSION_IDLE_MINUTES", 30)
    SESSION_ABSOLUTE_HOURS = _int("EP_SESSION_ABSOLUTE_HOURS", 12)
    HTTPS = _bool("EP_HTTPS", False)
    # Plain-http development only (dev.py up sets it): no Secure flag, no __Host- prefix.
    EP_INSECURE_COOKIES = _bool("EP_INSECURE_COOKIES", False)

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Passwords and login throttling (SPEC §3).
    PASSWORD_MAX_AGE_DAYS = _int("EP_PASSWORD_MAX_AGE_DAYS", 365)  # 0 = no expiry
    PASSWORD_HISTORY = 5
    LOGIN_MAX_FAILURES = _int("EP_LOGIN_MAX_FAILURES", 5)
    LOGIN_LOCK_MINUTES = _int("EP_LOGIN_LOCK_MINUTES", 15)
    ACTIVATION_TOKEN_HOURS = _int("EP_ACTIVATION_TOKEN_HOURS", 72)
    RESET_TOKEN_MINUTES = _int("EP_RESET_TOKEN_MINUTES", 60)

    # Attachments (SPEC §4): outside the web root, under generated names.
    UPLOAD_DIR = os.environ.get("EP_UPLOAD_DIR", str(BASE_DIR / "instance" / "uploads"))
    MAX_ATTACHMENT_BYTES = _int("EP_MAX_ATTACHMENT_MB", 10) * 1024 * 1024
    MAX_ATTACHMENTS = 5
    # Whole request: 5 files of 10 MB plus the form.
    MAX_CONTENT_LENGTH = 5 * _int("EP_MAX_ATTACHMENT_MB", 10) * 1024 * 1024 + 1024 * 1024
    # ClamAV's clamd (INSTREAM): a unix socket path, or host:port. Unset = no scan.
    CLAMD_SOCKET = os.environ.get("EP_CLAMD_SOCKET", "")
    CLAMD_ADDRESS = os.environ.get("EP_CLAMD_ADDRESS", "")
    CLAMD_TIMEOUT = _int("EP_CLAMD_TIMEOUT", 30)

    # Demandes (SPEC §4, §7).
    SIGNALEMENT_SLA_HOURS = 48
    RETENTION_DAYS = _int("EP_RETENTION_DAYS", 730)  # closed demandes purged 2 years after closure
    IDLE_INACTIVATION_DAYS = 91  # 3 months without login (SPEC §3)
    DELETION_AFTER_INACTIVE_DAYS = 183  # 6 months inactive → deleted

    # Timezone for display.
    TIMEZONE = "Europe/Paris"


def dev_overrides(config: dict) -> None:
    """Plain-http development: the __Host- prefix requires Secure cookies."""
    if config.get("DEBUG") or config.get("EP_INSECURE_COOKIES"):
        config["SESSION_COOKIE_SECURE"] = False
        config["REMEMBER_COOKIE_SECURE"] = False
        config["SESSION_COOKIE_NAME"] = "ep_session"
