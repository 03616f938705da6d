"""Settings for the order back-office, read from the environment.

Defaults are safe for a laptop: SQLite, the django-q2 ORM broker and the database
cache, so `make run` needs nothing else. Production sets DATABASE_URL (PostgreSQL)
and REDIS_URL; see README.md for every variable.
"""

from __future__ import annotations

import hashlib
import secrets
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from backoffice.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
# Without a key, management commands that sign nothing lasting (migrate, makemigrations,
# messages, checks) still run, on a throwaway key; serving requests refuses to start
# (backoffice/wsgi.py): production must set SECRET_KEY (`make run` keeps one in var/).
SECRET_KEY_EPHEMERAL = not SECRET_KEY
if not SECRET_KEY:
    SECRET_KEY = (
        "insecure-development-key-only-used-with-DEBUG" if DEBUG else secrets.token_urlsafe(50)
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin site is ours (backoffice.admin.BackofficeAdminSite).
    "backoffice.apps.BackofficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_fsm",
    "django_q",
    "import_export",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "backoffice.apps.BackofficeConfig",
    "backoffice.audit",
    "backoffice.notifications",
    "orders",
    "approvals",
    "exceptions",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backoffice" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "backoffice.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
DB_ENGINE = DATABASES["default"]["ENGINE"]
IS_POSTGRES = "postgresql" in DB_ENGINE
IS_SQLITE = "sqlite" in DB_ENGINE
if IS_SQLITE:
    # Without these the qcluster and the web process fight over the write lock and
    # scheduled runs are lost to "database is locked" (STYLE.md, pitfalls).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif IS_POSTGRES:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Two suites on one PostgreSQL server (a working copy and a clean-clone CI run)
# must not share a test database: the default name is derived from this checkout.
_checkout_tag = hashlib.sha1(str(BASE_DIR).encode()).hexdigest()[:8]
DATABASES["default"]["TEST"] = {
    "NAME": env_str("TEST_DATABASE_NAME", f"test_backoffice_{_checkout_tag}")
}
if IS_SQLITE:
    DATABASES["default"]["TEST"]["NAME"] = None  # in-memory

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: shared between processes (throttles, lockouts, counters) --------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "backoffice_cache",
        }
    }

# --- Auth -------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # Surge staffing: a person lent to a team has its permissions until the grant ends.
    "orders.auth.SurgeGrantBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- i18n -------------------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE={LANGUAGE_CODE!r} must be one of zh-hans, en")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r} is not a known time zone") from exc
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- Mail -------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
# Used by the file-based backend that `make run` picks when no SMTP server is configured.
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "backoffice@localhost")

# --- django-q2 ----------------------------------------------------------------
# retry must exceed timeout, or a slow task is started a second time while running.
Q_CLUSTER = {
    "name": "backoffice",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "save_limit": 500,
    "catch_up": False,
    "label": _("Task queue"),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- REST API -------------------------------------------------------------------
# Partners authenticate with API keys (orders.api.auth); staff phones use the session
# or a token (`Authorization: Token <key>`, created in the admin).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSON parser, refusing pathologically nested bodies with a 400.
    "DEFAULT_PARSER_CLASSES": ["orders.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "orders.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests per partner API key, e.g. "1200/min" (DRF rate syntax).
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "1200/min")
# How long Idempotency-Key answers and webhook delivery logs are kept (hours, >= 24).
API_RETENTION_HOURS = env_int("API_RETENTION_HOURS", 72, minimum=24)
# How long a partner's webhook receiver may take to answer one POST (seconds); a
# slower one counts as failed and is retried with backoff. Keep it well under the
# django-q2 task timeout: one sweep POSTs many events in a row.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "Order back-office partner API",
    "DESCRIPTION": (
        "Push orders idempotently, follow their stages, cancel, record payments. "
        "Authenticate with `X-Api-Key: <key>` (or `Authorization: Api-Key <key>`). "
        'Every error is `{"code": ..., "message": ..., "details": ...}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a field called "status": name the card parts' own enum, so
    # the order's published StatusEnum keeps its name.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "orders.states.OrderStatus",
        "CardPartStatusEnum": "orders.models.evaluation.PartStatus",
    },
}

# --- Product settings ---------------------------------------------------------
# How old a qcluster heartbeat may be before /healthz fails (seconds).
HEARTBEAT_MAX_AGE = env_int("HEARTBEAT_MAX_AGE", 180, minimum=30)
# The order age buckets of the order list (hours): the 2-hour promise and the 3-hour alarm.
ORDER_TARGET_HOURS = env_int("ORDER_TARGET_HOURS", 2, minimum=1)
BACKLOG_ALARM_HOURS = env_int("BACKLOG_ALARM_HOURS", 3, minimum=1)
# How long a process keeps the enabled routing rules before re-reading them (seconds):
# a rule changed in the admin applies in every other worker within this time.
APPROVALS_RULE_CACHE_SECONDS = env_int("APPROVALS_RULE_CACHE_SECONDS", 5, minimum=0)
# How long a process keeps the health-score weights in force (seconds).
HEALTH_WEIGHTS_CACHE_SECONDS = env_int("HEALTH_WEIGHTS_CACHE_SECONDS", 5, minimum=0)
# After a transition into a stage, its breaker is checked at most this often per process
# (seconds); the minute schedule evaluates every breaker anyway.
BREAKER_ENTRY_CHECK_SECONDS = env_int("BREAKER_ENTRY_CHECK_SECONDS", 2, minimum=0)
# The group told about backlog alarms and a dead task queue.
SUPERVISORS_GROUP = env_str("SUPERVISORS_GROUP", "Supervisors")

# --- Bottleneck dashboard (reports) --------------------------------------------
# Heatmap colours: a cell this many percent above its baseline (the same hour on the
# same weekday over the previous 4 weeks) is warm, hot, critical; as far below, cool.
REPORTS_HEATMAP_THRESHOLDS = [
    env_int("REPORTS_HEATMAP_WARM_PERCENT", 25, minimum=1),
    env_int("REPORTS_HEATMAP_HOT_PERCENT", 50, minimum=1),
    env_int("REPORTS_HEATMAP_CRITICAL_PERCENT", 100, minimum=1),
]
if sorted(REPORTS_HEATMAP_THRESHOLDS) != REPORTS_HEATMAP_THRESHOLDS:
    raise ImproperlyConfigured("REPORTS_HEATMAP_WARM/HOT/CRITICAL_PERCENT must increase")
# "Stalled": waiting orders, no exit for this long, while the stage's staff are active.
# Also "stalled": orders over the target and exits in that window at most this share of
# a normal day's (a trickle: workarounds such as handwritten pick lists).
REPORTS_STALL_MINUTES = env_int("REPORTS_STALL_MINUTES", 30, minimum=5)
REPORTS_STALL_EXIT_PERCENT = env_int("REPORTS_STALL_EXIT_PERCENT", 35, minimum=0)
# "Unattended": waiting orders and no sign of life from the stage's people this long.
REPORTS_UNATTENDED_MINUTES = env_int("REPORTS_UNATTENDED_MINUTES", 30, minimum=5)
# "Demand surge": arrivals in the last hour at least this many percent of the baseline
# (and at least REPORTS_SURGE_MIN_ARRIVALS) while exits keep at least
# REPORTS_SURGE_EXIT_PERCENT of theirs.
REPORTS_SURGE_PERCENT = env_int("REPORTS_SURGE_PERCENT", 200, minimum=101)
REPORTS_SURGE_MIN_ARRIVALS = env_int("REPORTS_SURGE_MIN_ARRIVALS", 20, minimum=1)
REPORTS_SURGE_EXIT_PERCENT = env_int("REPORTS_SURGE_EXIT_PERCENT", 70, minimum=1)
# Logins and claims kept for the flags above (days).
REPORTS_ACTIVITY_RETENTION_DAYS = env_int("REPORTS_ACTIVITY_RETENTION_DAYS", 30, minimum=1)

# --- Evaluation card connectors (orders/connectors, orders/services/card.py) ---


def _connector_mode(kind: str) -> str:
    mode = env_str(f"CONNECTOR_{kind}", "local").strip().lower()
    if mode not in ("local", "http"):
        raise ImproperlyConfigured(f"CONNECTOR_{kind}={mode!r} must be 'local' or 'http'")
    return mode


def _connector_url(kind: str, mode: str) -> str:
    url = env_str(f"CONNECTOR_{kind}_URL").strip().rstrip("/")
    if mode == "http" and not url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(
            f"CONNECTOR_{kind}=http needs an http(s):// CONNECTOR_{kind}_URL"
        )
    return url


# Where each part of an order's evaluation card comes from: "local" reads this app's
# own tables (fed by imports or the demo), "http" calls the system at
# CONNECTOR_<KIND>_URL with CONNECTOR_<KIND>_TOKEN as a bearer token (the contract is
# in orders/connectors/http.py).
CONNECTOR_CUSTOMER = _connector_mode("CUSTOMER")
CONNECTOR_CUSTOMER_URL = _connector_url("CUSTOMER", CONNECTOR_CUSTOMER)
CONNECTOR_CUSTOMER_TOKEN = env_str("CONNECTOR_CUSTOMER_TOKEN")
CONNECTOR_INVENTORY = _connector_mode("INVENTORY")
CONNECTOR_INVENTORY_URL = _connector_url("INVENTORY", CONNECTOR_INVENTORY)
CONNECTOR_INVENTORY_TOKEN = env_str("CONNECTOR_INVENTORY_TOKEN")
CONNECTOR_FULFILMENT = _connector_mode("FULFILMENT")
CONNECTOR_FULFILMENT_URL = _connector_url("FULFILMENT", CONNECTOR_FULFILMENT)
CONNECTOR_FULFILMENT_TOKEN = env_str("CONNECTOR_FULFILMENT_TOKEN")
# One HTTP call's timeout, and how many more tries after a refused connection or a 5xx
# (only while the card's time budget lasts).
CONNECTOR_TIMEOUT_MS = env_int("CONNECTOR_TIMEOUT_MS", 700, minimum=50)
CONNECTOR_RETRIES = env_int("CONNECTOR_RETRIES", 1, minimum=0)
# How long the three fetches may take together; a part not there by then is marked
# unavailable and refreshed later, so an order never waits on a slow system.
CARD_BUDGET_MS = env_int("CARD_BUDGET_MS", 800, minimum=50)
# A source failing this many times in a row is not called for the cool-down.
CONNECTOR_BREAKER_FAILURES = env_int("CONNECTOR_BREAKER_FAILURES", 5, minimum=1)
CONNECTOR_BREAKER_COOLDOWN_SECONDS = env_int("CONNECTOR_BREAKER_COOLDOWN_SECONDS", 60, minimum=1)

# --- Notifications (backoffice.notifications) ----------------------------------
# A message whose channels all keep failing is retried with backoff and given up
# (status "failed", audited) only after this many hours.
NOTIFY_GIVE_UP_HOURS = env_int("NOTIFY_GIVE_UP_HOURS", 48, minimum=1)
# Prefixed to relative links ("/admin/...") in e-mails and chat messages, e.g.
# "https://backoffice.example.com"; blank leaves links as they are.
NOTIFY_BASE_URL = env_str("NOTIFY_BASE_URL", "").rstrip("/")
if NOTIFY_BASE_URL and not NOTIFY_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"NOTIFY_BASE_URL={NOTIFY_BASE_URL!r} must start with http(s)://")

# --- django-import-export (admin import/export, orders/resources.py) -----------
# An import commits the whole file or nothing; importing needs the model's change
# permission (adding rows also needs add, see orders/resources.py), exporting its
# view permission. Imported rows also get the admin's per-object history entries.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# --- Logging ------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
