"""Settings read from the environment (``EP_`` prefix), with defaults that run as-is.

Nothing needs to be running for the defaults: SQLite in ``instance/``, jobs run
in-process when ``REDIS_URL`` is unset, e-mails written to ``instance/outbox``
and printed when no SMTP host is set.

The environment is read when the app is created, never at import: a test (or a
second app in one process) passes its own mapping to ``create_app``.
"""
import os
import sys
from collections.abc import Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env:
    """Typed reads from one environment mapping."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def get(self, name: str, default: str = "") -> str:
        return self.environ.get(name, default)

    def bool(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None or raw == "":
            return default
        return raw.strip().lower() in {"1", "true", "yes", "on", "oui"}

    def int(self, name: str, default: int) -> int:
        raw = self.environ.get(name)
        return int(raw) if raw not in (None, "") else default


def _database_url(env: _Env) -> str:
    url = env.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'instance' / 'ep.sqlite3'}"
    # Heroku-style URLs and bare postgresql:// both go through psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    """One app's settings: ``Config.from_env(environ)`` (``os.environ`` when omitted)."""

    TESTING = False
    # PostgreSQL: no pool_pre_ping, a socket check instead (ep_web._register_liveness_check).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}

    # Sessions (SPEC §3): idle 30 min, absolute 12 h. The __Host- prefix needs
    # Secure, which browsers refuse over plain http: in debug we drop both.
    SESSION_COOKIE_NAME = "__Host-ep_session"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_PATH = "/"
    REMEMBER_COOKIE_SECURE = True

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    PASSWORD_HISTORY = 5
    MAX_ATTACHMENTS = 5

    # Demandes (SPEC §4, §7).
    SIGNALEMENT_SLA_HOURS = 48
    IDLE_INACTIVATION_DAYS = 91  # 3 months without login (SPEC §3)
    DELETION_AFTER_INACTIVE_DAYS = 183  # 6 months inactive → deleted

    # Timezone for display.
    TIMEZONE = "Europe/Paris"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        return cls(os.environ if environ is None else environ)

    def __init__(self, environ: Mapping[str, str]):
        env = _Env(environ)
        # No default: check_secret_key() refuses to start without a real one,
        # except in development (the quick start) and tests.
        self.SECRET_KEY = env.get("EP_SECRET_KEY") or env.get("SECRET_KEY") or ""
        # "development" (set by scripts/dev.py up) or "test": the development
        # key is allowed; anything else is production.
        self.EP_ENV = env.get("EP_ENV", "production").strip().lower()
        self.DEBUG = env.bool("EP_DEBUG", False)

        self.SQLALCHEMY_DATABASE_URI = _database_url(env)
        self.SQLALCHEMY_ENGINE_OPTIONS = dict(self.SQLALCHEMY_ENGINE_OPTIONS)

        self.DB_CONNECT_TIMEOUT = env.int("EP_DB_CONNECT_TIMEOUT", 5)  # seconds (PostgreSQL)

        self.REDIS_URL = env.get("REDIS_URL")
        self.RQ_QUEUE = env.get("EP_RQ_QUEUE", "ep")
        # E-mails have their own queue, listed first by the workers (default "<RQ_QUEUE>-mail").
        self.RQ_MAIL_QUEUE = env.get("EP_RQ_MAIL_QUEUE")
        # E-mails claimed at once by one sending job, sent over one SMTP connection.
        self.MAIL_BATCH = env.int("EP_MAIL_BATCH", 100)
        # Sending results committed together: after a worker is killed mid-batch,
        # at most this many e-mails are "envoi interrompu" (to check by hand).
        self.MAIL_CHUNK = env.int("EP_MAIL_CHUNK", 10)
        # /metrics: a bearer token; without one, loopback requests only.
        self.METRICS_TOKEN = env.get("EP_METRICS_TOKEN")

        # Mail: SMTP when EP_SMTP_HOST is set, otherwise a local outbox folder.
        self.SMTP_HOST = env.get("EP_SMTP_HOST")
        self.SMTP_PORT = env.int("EP_SMTP_PORT", 25)
        self.SMTP_USER = env.get("EP_SMTP_USER")
        self.SMTP_PASSWORD = env.get("EP_SMTP_PASSWORD")
        self.SMTP_STARTTLS = env.bool("EP_SMTP_STARTTLS", False)
        self.SMTP_SSL = env.bool("EP_SMTP_SSL", False)
        self.SMTP_TIMEOUT = env.int("EP_SMTP_TIMEOUT", 10)
        self.MAIL_FROM = env.get("EP_MAIL_FROM", "Espace Partenaires <ne-pas-repondre@espace-partenaires.example>")
        self.MAIL_OUTBOX_DIR = env.get("EP_MAIL_OUTBOX_DIR", str(BASE_DIR / "instance" / "outbox"))
        self.MAIL_PRINT = env.bool("EP_MAIL_PRINT", True)

        # Public base URL used in e-mail links.
        self.BASE_URL = env.get("EP_BASE_URL", f"http://127.0.0.1:{env.int('PORT', 5000)}")

        self.SESSION_IDLE_MINUTES = env.int("EP_SESSION_IDLE_MINUTES", 30)
        self.SESSION_ABSOLUTE_HOURS = env.int("EP_SESSION_ABSOLUTE_HOURS", 12)
        self.HTTPS = env.bool("EP_HTTPS", False)
        # Plain-http development only (dev.py up sets it): no Secure flag, no __Host- prefix.
        self.EP_INSECURE_COOKIES = env.bool("EP_INSECURE_COOKIES", False)

        # Passwords and login throttling (SPEC §3).
        self.PASSWORD_MAX_AGE_DAYS = env.int("EP_PASSWORD_MAX_AGE_DAYS", 365)  # 0 = no expiry
        self.LOGIN_MAX_FAILURES = env.int("EP_LOGIN_MAX_FAILURES", 5)
        self.LOGIN_LOCK_MINUTES = env.int("EP_LOGIN_LOCK_MINUTES", 15)
        # Per network address (limits' notation). Past SLOW failures, failed
        # attempts from the address are paced (PACE); past LIMIT, unknown logins
        # and wrong passwords are refused until the window moves. A right
        # password for an account that is not itself locked always gets in.
        self.LOGIN_ADDRESS_SLOW = env.get("EP_LOGIN_ADDRESS_SLOW", "10 per 15 minutes")
        self.LOGIN_ADDRESS_PACE = env.get("EP_LOGIN_ADDRESS_PACE", "1 per 10 seconds")
        self.LOGIN_ADDRESS_LIMIT = env.get("EP_LOGIN_ADDRESS_LIMIT", "30 per 15 minutes")
        # "Mot de passe oublié": requests per address (refused with 429 past it),
        # and reset e-mails per account.
        self.RESET_ADDRESS_LIMIT = env.get("EP_RESET_ADDRESS_LIMIT", "10 per 15 minutes")
        self.RESET_EMAILS_PER_HOUR = env.int("EP_RESET_EMAILS_PER_HOUR", 3)
        # Reverse proxies in front of the app (X-Forwarded-For/-Proto hops to trust,
        # Werkzeug's ProxyFix). 0: the peer address is the client's.
        self.TRUSTED_PROXIES = env.int("EP_TRUSTED_PROXIES", 0)
        self.RATELIMIT_STRATEGY = "moving-window"
        self.RATELIMIT_KEY_PREFIX = "ep-limits"
        # Redis down: requests are not limited rather than refused (logged).
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
        self.RATELIMIT_HEADERS_ENABLED = False
        self.ACTIVATION_TOKEN_HOURS = env.int("EP_ACTIVATION_TOKEN_HOURS", 72)
        self.RESET_TOKEN_MINUTES = env.int("EP_RESET_TOKEN_MINUTES", 60)

        # Attachments (SPEC §4): outside the web root, under generated names.
        self.UPLOAD_DIR = env.get("EP_UPLOAD_DIR", str(BASE_DIR / "instance" / "uploads"))
        # Several web servers: an S3-compatible bucket instead of UPLOAD_DIR (ep_web.storage),
        # e.g. s3://bucket/prefix?endpoint=https://s3.example&region=fr-par. Unset = UPLOAD_DIR.
        self.STORAGE_URL = env.get("EP_STORAGE_URL")
        self.STORAGE_ACCESS_KEY = env.get("EP_STORAGE_ACCESS_KEY")
        self.STORAGE_SECRET_KEY = env.get("EP_STORAGE_SECRET_KEY")
        self.MAX_ATTACHMENT_BYTES = env.int("EP_MAX_ATTACHMENT_MB", 10) * 1024 * 1024
        # Whole request: 5 files of 10 MB plus the form.
        self.MAX_CONTENT_LENGTH = 5 * env.int("EP_MAX_ATTACHMENT_MB", 10) * 1024 * 1024 + 1024 * 1024
        # ClamAV's clamd (INSTREAM): a unix socket path, or host:port. Unset = no scan.
        self.CLAMD_SOCKET = env.get("EP_CLAMD_SOCKET")
        self.CLAMD_ADDRESS = env.get("EP_CLAMD_ADDRESS")
        self.CLAMD_TIMEOUT = env.int("EP_CLAMD_TIMEOUT", 30)
        # At upload, clamd gets this long; past it (or down) the file waits
        # "en attente" and the background job scans it with CLAMD_TIMEOUT.
        self.CLAMD_UPLOAD_TIMEOUT = env.int("EP_CLAMD_UPLOAD_TIMEOUT", 10)
        # Unscanned files may be downloaded (shown "non analysé"): the quick
        # start only. Production without clamd and without it refuses to start.
        self.ALLOW_UNSCANNED = env.bool("EP_ALLOW_UNSCANNED", False)

        # ProConnect (OpenID Connect), an optional way in (SPEC §3): on when the
        # discovery URL and the client id are set.
        self.PROCONNECT_DISCOVERY_URL = env.get("EP_PROCONNECT_DISCOVERY_URL")
        self.PROCONNECT_CLIENT_ID = env.get("EP_PROCONNECT_CLIENT_ID")
        self.PROCONNECT_CLIENT_SECRET = env.get("EP_PROCONNECT_CLIENT_SECRET")
        # Default: EP_BASE_URL + /connexion/proconnect/retour (declare it at ProConnect).
        self.PROCONNECT_REDIRECT_URL = env.get("EP_PROCONNECT_REDIRECT_URL")
        self.PROCONNECT_SCOPES = env.get("EP_PROCONNECT_SCOPES", "openid email given_name usual_name uid")
        # Asked of ProConnect (e.g. "eidas1"); its answer's acr/amr decide whether its second factor counts.
        self.PROCONNECT_ACR_VALUES = env.get("EP_PROCONNECT_ACR_VALUES")
        self.PROCONNECT_MFA_ACR = tuple(v.strip() for v in env.get("EP_PROCONNECT_MFA_ACR").split(",") if v.strip())
        self.PROCONNECT_TIMEOUT = env.int("EP_PROCONNECT_TIMEOUT", 10)  # seconds per call to the provider

        self.RETENTION_DAYS = env.int("EP_RETENTION_DAYS", 730)  # closed demandes purged 2 years after closure


DEV_SECRET_KEY = "dev-only-change-me"
MIN_SECRET_KEY_LENGTH = 32


class ConfigurationError(RuntimeError):
    """A production setting is missing or unsafe: the app refuses to start."""


def check_secret_key(config: dict) -> None:
    """SPEC §8 "production refuses to start with a missing secret": the key
    signs the session cookies, so a known or guessable one lets anyone forge a
    session. Outside development and tests, a missing key, one shorter than
    32 characters or the development value stops the start with a clear
    message on stderr; development and tests get the development key when
    they set none."""
    key = config.get("SECRET_KEY") or ""
    relaxed = config.get("TESTING") or config.get("EP_ENV") in ("development", "test")
    if relaxed:
        if not key:
            config["SECRET_KEY"] = DEV_SECRET_KEY
            if not config.get("TESTING") and config.get("EP_ENV") == "development":
                print("Espace Partenaires: development secret key (EP_ENV=development); never in production.",
                      file=sys.stderr, flush=True)
        return
    if not key:
        problem = "EP_SECRET_KEY is not set"
    elif key == DEV_SECRET_KEY:
        problem = "EP_SECRET_KEY is the development value"
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problem = f"EP_SECRET_KEY is too short ({len(key)} characters, at least {MIN_SECRET_KEY_LENGTH})"
    else:
        return
    message = (f"Espace Partenaires refuses to start: {problem}. Set it to a random value, e.g. "
               "python3 -c 'import secrets; print(secrets.token_urlsafe(48))' "
               "(EP_ENV=development is for the quick start only).")
    print(message, file=sys.stderr, flush=True)
    raise ConfigurationError(message)


def is_production(config) -> bool:
    """Production unless the quick start (``EP_ENV=development``), ``EP_ENV=test``, debug or tests."""
    return not (config.get("TESTING") or config.get("DEBUG") or config.get("EP_ENV") in ("development", "test"))


def file_scanning_problem(config) -> str | None:
    """Why this configuration must not start (SPEC §8: production refuses to
    start without antivirus unless unscanned files are explicitly allowed)."""
    if config.get("CLAMD_SOCKET") or config.get("CLAMD_ADDRESS") or config.get("ALLOW_UNSCANNED"):
        return None
    if not is_production(config):
        return None
    return ("Espace Partenaires refuse de démarrer : aucun antivirus n'est configuré. "
            "Indiquez le clamd à utiliser (EP_CLAMD_SOCKET=/chemin/clamd.sock ou EP_CLAMD_ADDRESS=hôte:port), "
            "ou autorisez explicitement les fichiers non analysés (EP_ALLOW_UNSCANNED=1, déconseillé en production).")


def dev_overrides(config: dict) -> None:
    """Plain-http development: the __Host- prefix requires Secure cookies."""
    if config.get("DEBUG") or config.get("EP_INSECURE_COOKIES"):
        config["SESSION_COOKIE_SECURE"] = False
        config["REMEMBER_COOKIE_SECURE"] = False
        config["SESSION_COOKIE_NAME"] = "ep_session"
