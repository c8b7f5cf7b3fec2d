"""CRM settings: every knob that differs between a laptop and production comes from the environment.

`.env.example` and the README list every variable read here, with its default.
"""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# The CRM's release: the API schema's version and the webhooks' User-Agent.
CRM_VERSION = "1.0.0"


class Env(environ.Env):
    """Reads the environment; a value it can't read stops start-up with a message naming its variable.

    django-environ's own error is a bare ValueError ("invalid literal for int()") that names neither, and
    it reads any word it doesn't know as false: SECURE_SSL_REDIRECT=ture would quietly leave HTTPS off.
    """

    BOOLEAN_FALSE_STRINGS = ("false", "off", "no", "n", "0", "")

    @classmethod
    def parse_value(cls, value, cast):
        known = cls.BOOLEAN_TRUE_STRINGS + cls.BOOLEAN_FALSE_STRINGS
        if cast is bool and isinstance(value, str) and value.strip().lower() not in known:
            raise ValueError(f"{value!r} is neither true nor false")
        return super().parse_value(value, cast)

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError as error:
            raise ImproperlyConfigured(f"{var} can't be read: {error}.") from None


env = Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (or .env), or set DEBUG=True for local work."
        )
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "crmApp.apps.CRMAdminConfig",  # django.contrib.admin, with a throttled sign-in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "corsheaders",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crmApp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Before anything reads the body; after the headers every answer carries (CORS, security), so that a
    # browser can read a 411, 413 or 400 it refuses.
    "crmApp.middleware.RequestLimitsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crmApp.middleware.RateLimitHeadersMiddleware",
    "crmApp.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "crmAdmin.urls"
WSGI_APPLICATION = "crmAdmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if not DATABASES["default"].get("ENGINE"):  # django-environ reads anything but a URL as no database at all
    raise ImproperlyConfigured("DATABASE_URL must be a URL like postgres://USER:PASSWORD@HOST:5432/NAME.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so concurrent writers wait (up to the
    # timeout) instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The covering indexes' INCLUDE columns serve PostgreSQL; SQLite builds the same indexes without them.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Parameters travel apart from the SQL, so a statement a connection runs again (a list's page, with
    # another organization or filter value) is prepared once and not planned again: the deals page spent
    # longer in the planner than running. 0 turns it off (a transaction-mode pooler older than PgBouncer 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": env.int("DB_PREPARE_THRESHOLD", default=5) or None}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the shared cache, the throttle counters and the task broker ------------------------------
# With REDIS_URL set, every process and machine shares one cache (cached list counts and figures,
# throttle counters) and background jobs run on Celery workers (`celery -A crmAdmin worker --beat`).
# Without it, the app still runs whole: figures are computed on every request instead of cached (a
# per-process cache could serve another process's stale counts), throttle counters live in each
# process's memory (limits hold per process), and the app process runs background jobs itself.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and urlsplit(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    # Anything else starts the process and fails at its first cached read.
    raise ImproperlyConfigured("REDIS_URL must be a URL like redis://HOST:6379/0 (or rediss://, unix://).")
if REDIS_URL:
    # A call takes well under a millisecond: one that hangs (Redis stalled, a network partition) is cut
    # after two seconds and answered as the 503 of an unreachable cache, instead of holding the worker.
    REDIS_TIMEOUTS = {"socket_timeout": 2, "socket_connect_timeout": 2}
    CACHES = {
        "default": {
            "BACKEND": "crmApp.redis_cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_TIMEOUTS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "crm"}}
# Cached figures are only exact when every process sees the same cache (crmApp.caching).
CACHE_FIGURES = bool(REDIS_URL)
CELERY_BROKER_URL = REDIS_URL or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The test suite runs jobs in line; everywhere else they leave the request (crmApp.jobs).
TASKS_RUN_SYNCHRONOUSLY = False
# The workers' clock (`--beat`): due webhook attempts every few seconds (new events wake them at
# once), the housekeeping hourly. Without a broker the app process keeps the same clock itself.
CELERY_BEAT_SCHEDULE = {
    "deliver-webhooks": {"task": "crmApp.tasks.deliver_webhooks", "schedule": 5.0},
    "housekeeping": {"task": "crmApp.tasks.housekeeping", "schedule": 3600.0},
}

# --- Data lifecycle -------------------------------------------------------------------------------
# Days a deleted record waits in the trash before `purge_trash` (hourly on the workers) removes it.
TRASH_RETENTION_DAYS = env.int("TRASH_RETENTION_DAYS", default=30)
# Negative, the next hourly run would purge every deleted record at once; past a century the cut-off
# date overflows and the run fails. `purge_trash --days` keeps the same range.
MAX_TRASH_RETENTION_DAYS = 36_500
if not 0 <= TRASH_RETENTION_DAYS <= MAX_TRASH_RETENTION_DAYS:
    raise ImproperlyConfigured(f"TRASH_RETENTION_DAYS must be a number of days from 0 to {MAX_TRASH_RETENTION_DAYS}.")

# --- Webhooks -------------------------------------------------------------------------------------
# Refuse targets on loopback, private, link-local and metadata addresses, and plain http://, unless
# turned on (for a receiver on the same machine or network, in development).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
# The wait before the first retry of a failed delivery; each later wait is up to twice the one before.
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=60)

# --- Identity -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "crmApp.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60 * 24)

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files: served by the app itself (WhiteNoise), collected by `manage.py collectstatic` ------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# A request body over 5 MB is refused before it is parsed. A CSV import uploads up to 50 MB (plus its
# multipart framing); Django spools such a file to disk, never to memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
MAX_REQUEST_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
MAX_UPLOAD_BODY_BYTES = {"/api/imports/": 51 * 1024 * 1024}

# --- HTTPS and cookies (production behind TLS; see docs/operations.md) -----------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# On: trust the proxy's X-Forwarded-Proto to tell HTTPS requests (only behind a proxy that sets it).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL_HEADER", default=False) else None
)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
CSRF_FAILURE_VIEW = "crmApp.exceptions.csrf_failure"

# --- CORS -----------------------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=["http://localhost:3000"])
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "origin",
    "user-agent",
    "x-csrftoken",
    "x-organization-id",
    "x-requested-with",
)
CORS_EXPOSE_HEADERS = (
    "ETag",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Idempotent-Replayed",
    "Content-Disposition",
)

# --- Mail -----------------------------------------------------------------------------------------
FRONTEND_URL = env.str("FRONTEND_URL", default="http://localhost:3000").rstrip("/")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent_emails"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CRM <no-reply@crm.local>")

# --- REST framework -------------------------------------------------------------------------------


def throttle_rate(name: str, default: str) -> str:
    """A rate from the environment, `<count>/<period>` whose period starts with s, m, h or d; else start-up stops.

    It is read on every request, so a typo would otherwise answer every request with a 500.
    """
    rate = env.str(name, default=default)
    if not re.fullmatch(r"\d+/\s*[smhd][a-z]*", rate.strip()):
        raise ImproperlyConfigured(f"{name} must be a count per second, minute, hour or day, like 100/minute.")
    return rate


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crmApp.authentication.CachedJWTAuthentication",
        # A signed-in admin session in the browser (the browsable API); unsafe methods need its CSRF token.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["crmApp.throttles.UserRateThrottle", "crmApp.throttles.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": throttle_rate("THROTTLE_USER", "2000/minute"),
        "auth": throttle_rate("THROTTLE_AUTH", "10/minute"),
        "api_key": throttle_rate("THROTTLE_API_KEY", "1000/minute"),
    },
    "DEFAULT_PAGINATION_CLASS": "crmApp.pagination.StandardPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "crmApp.filters.FilterBackend",
        "crmApp.filters.search.DocumentSearchFilter",
        "crmApp.filters.StableOrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["crmApp.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["crmApp.parsers.StrictJSONParser"],
    "DEFAULT_METADATA_CLASS": "crmApp.metadata.PermittedMetadata",
    "DEFAULT_SCHEMA_CLASS": "crmApp.schema.CRMAutoSchema",
    "EXCEPTION_HANDLER": "crmApp.exceptions.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    # Proxies in front of the app; throttles key on X-Forwarded-For only through this many of them.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("ACCESS_TOKEN_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("REFRESH_TOKEN_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Access tokens carry a hash of the password, so a password change also ends them at once.
    "CHECK_REVOKE_TOKEN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": "Multi-tenant CRM: organizations, RBAC, customers, leads, deals and analytics.",
    "VERSION": CRM_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    # Swagger UI and ReDoc from the installed sidecar package: /api/docs/ works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "crmApp.schema.postprocess_schema"],
    # Several models share these choices; one named enum each keeps the schema free of collisions.
    "ENUM_NAME_OVERRIDES": {
        "DealStatusEnum": "crmApp.constants.DealStatus",
        "CustomerStatusEnum": "crmApp.constants.CustomerStatus",
        "ActiveStatusEnum": "crmApp.constants.ActiveStatus",
        "LeadSourceEnum": "crmApp.constants.LeadSource",
        "ChangeSourceEnum": "crmApp.constants.ChangeSource",
    },
}

# logging knows upper-case names only: LOG_LEVEL=info stopped start-up with "Unable to configure logger".
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").strip().upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "filters": {"as_warning": {"()": "crmApp.logs.AsWarningWithoutTraceback"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own logger would print through its handler and again through the root one.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.security.DisallowedHost": {"filters": ["as_warning"]},
    },
}
