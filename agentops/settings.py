"""agentops settings: read from the environment only (django-environ), checked at start.

Every variable is listed in the README. A bad value raises ImproperlyConfigured naming the variable.
Secrets may be given as `<NAME>_FILE` (a path whose content is the value). With DATABASE_URL unset the
embedded PostgreSQL in AGENTOPS_HOME is used; with CELERY_BROKER_URL unset, kombu's filesystem
transport in AGENTOPS_HOME.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from agentops import embedded
from agentops.home import agentops_home, broker_dir, persistent_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent

env = environ.Env()


def _secret(name: str, default: str | None = None) -> str | None:
    """NAME, or the content of the file named by NAME_FILE (Docker and Kubernetes secrets)."""
    file_var = f"{name}_FILE"
    if os.environ.get(file_var):
        path = Path(os.environ[file_var])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{file_var}={path} cannot be read: {exc.strerror}") from exc
    value = os.environ.get(name)
    return value if value else default


_FALSE_STRINGS = ("false", "off", "no", "n", "0", "")


def _bool(name: str, default: bool) -> bool:
    # django-environ reads anything it does not know as false: DEBUG=maybe must fail, not mean "no".
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() not in (*environ.Env.BOOLEAN_TRUE_STRINGS, *_FALSE_STRINGS):
        raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")
    return env.bool(name)


def _int(name: str, default: int) -> int:
    try:
        return env.int(name, default=default)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {os.environ.get(name)!r}") from exc


AGENTOPS_HOME = agentops_home()

DEBUG = _bool("DEBUG", False)
SECRET_KEY = _secret("SECRET_KEY") or persistent_secret_key(AGENTOPS_HOME)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public base URL printed in the OTEL_* lines and used in links (no trailing slash).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "agentops",
    "agentops.tenancy",
    "agentops.notify",
    "traces",
    "agentops.agents",
    "agentops.alerts",
    "agentops.approvals",
    "agentops.goldens",
    "agentops.budgets",
    "agentops.retention",
]

MIDDLEWARE = [
    "agentops.requestlog.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "agentops.headers.SecurityHeadersMiddleware",  # after whitenoise: static files keep their caching
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "agentops.htmx.HtmxLoginRedirectMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Refuses a project-scoped view that skipped the tenancy chokepoint; needs the resolved user.
    "agentops.tenancy.guard.TenancyGuardMiddleware",
]

ROOT_URLCONF = "agentops.urls"
WSGI_APPLICATION = "agentops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
_database_url = env.str("DATABASE_URL", default="") or embedded.database_url(AGENTOPS_HOME)
try:
    DATABASES: dict[str, dict[str, Any]] = {"default": env.db_url_config(_database_url)}
except Exception as exc:  # django-environ raises several types for a malformed URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL 15 or newer (postgres://...)")
# A Unix-socket URL (the embedded server's) names the socket folder as ?host=...: as HOST, it is also
# what `agentops dbshell` passes to psql.
if not DATABASES["default"].get("HOST") and "host" in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["HOST"] = DATABASES["default"]["OPTIONS"].pop("host")
DATABASES["default"]["CONN_MAX_AGE"] = _int("CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = _int("DATABASE_CONNECT_TIMEOUT", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "tenancy.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous users see nothing.
GUARDIAN_MONKEY_PATCH_USER = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Each bearer authenticator takes only its own prefix (aop_, aok_) and leaves the rest to the next.
        "agentops.tenancy.authentication.ApiTokenAuthentication",
        "agentops.tenancy.authentication.IngestKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # A person; an ingest key only on views that opt in (allow_ingest_keys = True).
    "DEFAULT_PERMISSION_CLASSES": ["agentops.tenancy.permissions.IsUserOrAllowedIngestKey"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "agentops API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Serve Swagger UI and Redoc from the installed sidecar package: pages work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- OTLP ingest ---------------------------------------------------------------------------------
# The body limit applies before and after decompression (the OTLP spec recommends 64 MiB).
INGEST_MAX_BODY_BYTES = _int("INGEST_MAX_BODY_BYTES", 64 * 1024 * 1024)
INGEST_RETRY_AFTER_SECONDS = _int("INGEST_RETRY_AFTER_SECONDS", 5)
# How long a batch may wait for a row or table lock before ingest gives up with 503 (exporters retry).
INGEST_LOCK_TIMEOUT_MS = _int("INGEST_LOCK_TIMEOUT_MS", 5000)
# A span starting earlier than this many days ago, or starting or ending later than this many seconds from
# now, is rejected alone (partial success, naming the window): a far-off time once created a partition per
# month in between (traces.ingest.validate). A day ahead allows for senders' clock skew; a year back for
# batches replayed from a buffer or an import.
INGEST_MAX_SPAN_AGE_DAYS = _int("INGEST_MAX_SPAN_AGE_DAYS", 365)
INGEST_MAX_SPAN_AHEAD_SECONDS = _int("INGEST_MAX_SPAN_AHEAD_SECONDS", 86400)
for _name in ("INGEST_MAX_SPAN_AGE_DAYS", "INGEST_MAX_SPAN_AHEAD_SECONDS"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must not be negative")
# OTLP/gRPC (`agentops grpc`, and `agentops up` beside the web): 4317 is the port OTLP/gRPC exporters use.
GRPC_PORT = _int("GRPC_PORT", 4317)

# --- Web server (`agentops web`: agentops.server) ------------------------------------------------
# Threads per web worker serving Django (`agentops web --threads` sets it for the workers it starts).
WEB_THREADS = _int("WEB_THREADS", 4)
# A request that finds every thread busy waits at most this long, in a queue of this many per thread;
# past either it is answered 503 with Retry-After (INGEST_RETRY_AFTER_SECONDS) instead of timing out.
WEB_QUEUE_TIMEOUT_SECONDS = _int("WEB_QUEUE_TIMEOUT_SECONDS", 2)
WEB_QUEUE_PER_THREAD = _int("WEB_QUEUE_PER_THREAD", 4)
# Slow or stalled clients: a request's head must arrive within WEB_HEADER_TIMEOUT_SECONDS, its body within
# WEB_BODY_TIMEOUT_SECONDS with no gap longer than WEB_BODY_IDLE_TIMEOUT_SECONDS (408 otherwise).
WEB_HEADER_TIMEOUT_SECONDS = _int("WEB_HEADER_TIMEOUT_SECONDS", 10)
WEB_BODY_TIMEOUT_SECONDS = _int("WEB_BODY_TIMEOUT_SECONDS", 60)
WEB_BODY_IDLE_TIMEOUT_SECONDS = _int("WEB_BODY_IDLE_TIMEOUT_SECONDS", 10)
# Request bodies held at once by one worker (being read or served); past it, 503 with Retry-After. One
# body is always admitted up to INGEST_MAX_BODY_BYTES. Decoding takes about ten times a body's size: 8
# concurrent 63 MiB exports took two workers to 4.2 GB without this bound, 3.1 GB at 128 MiB, 2.0 GB at 64.
WEB_MAX_INFLIGHT_BODY_BYTES = _int("WEB_MAX_INFLIGHT_BODY_BYTES", 64 * 1024 * 1024)
for _name in ("WEB_THREADS", "WEB_QUEUE_PER_THREAD", "WEB_HEADER_TIMEOUT_SECONDS", "WEB_BODY_TIMEOUT_SECONDS",
              "WEB_BODY_IDLE_TIMEOUT_SECONDS", "WEB_MAX_INFLIGHT_BODY_BYTES"):  # fmt: skip
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(AGENTOPS_HOME / "static")))
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "agentops.staticfinders.PackagedAssetsFinder",  # plotly.js from the pinned plotly package
]
# Serve straight from the app folders: no collectstatic step is needed for `agentops up`.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Celery -------------------------------------------------------------------------------------
# "localhost//" only keeps kombu from warning that no host was given; the filesystem transport has none.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://localhost//"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = broker_dir(AGENTOPS_HOME) / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        # kombu's default is a folder named "control" in the working directory.
        "control_folder": str(broker_dir(AGENTOPS_HOME) / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = _bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(AGENTOPS_HOME / "celerybeat-schedule")

# --- E-mail (notification channels of kind "email": agentops.notify) -------------------------------
# EMAIL_URL (django-environ: smtp://user:password@host:587 with ?tls=True, smtp+ssl://... for port 465)
# or EMAIL_HOST with EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL.
# With neither, the console backend writes each e-mail to the worker's log and sends nothing: fine on a
# laptop, never in production (README: "Notification channels").
_email_url = _secret("EMAIL_URL")
if _email_url:
    try:
        _email = env.email_url_config(_email_url)
    except Exception as exc:  # django-environ raises several types for a malformed URL
        raise ImproperlyConfigured(f"EMAIL_URL is not a valid e-mail URL: {exc}") from exc
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
    EMAIL_PORT = int(_email.get("EMAIL_PORT") or 25)
    EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
    EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
    EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
elif os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = _int("EMAIL_PORT", 25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = _secret("EMAIL_HOST_PASSWORD") or ""
    EMAIL_USE_TLS = _bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _bool("EMAIL_USE_SSL", False)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
if EMAIL_BACKEND.endswith("smtp.EmailBackend") and EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other: choose one")
# A mail server that does not answer makes one delivery attempt fail, not a worker hang.
EMAIL_TIMEOUT = _int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="agentops@localhost")

# --- Notifications (agentops.notify) ------------------------------------------------------------
# Webhook and Slack channels may not POST to private or loopback addresses unless this is true (an
# Engineer's channel could otherwise probe the network agentops runs in). Link-local addresses (cloud
# metadata) are refused whatever it says. True is for a laptop or a receiver on the same network.
NOTIFY_ALLOW_PRIVATE_URLS = _bool("NOTIFY_ALLOW_PRIVATE_URLS", False)

# --- Retention (agentops.retention) --------------------------------------------------------------
# The policy a new project starts with: days its payloads (inputs, outputs, tool arguments, previews),
# steps and runs are kept; unset or empty keeps them forever. Each must be at most the next: metrics
# outlive steps, steps outlive payloads. Audit events have their own retention, meant to be longer.


def _days(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number of days, at least 1, or empty for ever, not {raw!r}")
    return int(raw)


RETENTION_PAYLOAD_DAYS = _days("AGENTOPS_RETENTION_PAYLOAD_DAYS")
RETENTION_STEP_DAYS = _days("AGENTOPS_RETENTION_STEP_DAYS")
RETENTION_RUN_DAYS = _days("AGENTOPS_RETENTION_RUN_DAYS")
AUDIT_RETENTION_DAYS = _days("AGENTOPS_AUDIT_RETENTION_DAYS")
_retention = [
    ("AGENTOPS_RETENTION_PAYLOAD_DAYS", RETENTION_PAYLOAD_DAYS),
    ("AGENTOPS_RETENTION_STEP_DAYS", RETENTION_STEP_DAYS),
    ("AGENTOPS_RETENTION_RUN_DAYS", RETENTION_RUN_DAYS),
]
for (_shorter, _short), (_longer, _long) in itertools.pairwise(_retention):
    if _long is not None and (_short is None or _short > _long):
        raise ImproperlyConfigured(f"{_shorter} must be set and at most {_longer} ({_long} days)")

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "agentops.requestlog.RequestIdFilter"}},
    "formatters": {"json": {"()": "agentops.requestlog.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
    },
}
