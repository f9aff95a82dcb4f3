"""Settings for the Sumotext CRM. Every knob comes from the environment."""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static

from subscribers.phone import country_code

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG")
# "Local" means a developer's machine: `make run` and the test suite. Anything else must
# be given a real secret key and host names.
LOCAL = env_bool("DJANGO_LOCAL", default=DEBUG)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not LOCAL:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required (DJANGO_LOCAL=1: dev key)")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if LOCAL else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # The admin's theme: before django.contrib.admin so its templates win. It ships its CSS,
    # fonts, Chart.js, htmx and Alpine: the admin loads nothing from the internet.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "axes",
    # The layers, bottom up (tests/test_layers.py): lib/ is a plain package, not an app.
    "subscribers.apps.SubscribersConfig",
    "campaigns",
    "callbacks",
    "webhooks",
    "crm.apps.ProjectConfig",
]

MIDDLEWARE = [
    # Load balancers' probes: answered before host checks, HTTPS redirects and sessions.
    "crm.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Callbacks are answered here, past the browser's middleware below (lib/direct_paths.py).
    "lib.direct_paths.DirectPathsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as its documentation asks: turns a locked-out login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

# URLs only machines call (lib/direct_paths.py): no session, CSRF, login or message middleware.
DIRECT_PATH_PREFIXES = ["/callbacks/"]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

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


def database_config(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the writer; IMMEDIATE takes the write lock when a
        # transaction starts, so concurrent writers wait (busy timeout) instead of failing
        # with "database is locked" half-way through.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        # A file, not the in-memory default, so threads and server processes in tests
        # share one database.
        config["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
    else:
        # A database that does not answer must fail fast, so a callback goes to the spool
        # while the platform still waits for our answer.
        config.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5)
        )
        # No JIT: it compiled for 0.3-0.8 s before queries the planner costs high but that
        # stop early (a list's count capped at 10,001 rows of a million), and every query
        # this product runs is short.
        config["OPTIONS"].setdefault("options", "-c jit=off")
        # psycopg prepares a statement run this many times on one connection, for cursors that
        # bind on the server: only the callback's one statement (callbacks/processing.py);
        # Django's cursors bind on the client and never prepare. 0: nothing is prepared (for
        # a pooler that cannot carry prepared statements, docs/scaling.md).
        config["OPTIONS"].setdefault(
            "prepare_threshold", env_int("DATABASE_PREPARE_THRESHOLD", 5) or None
        )
    return config


DATABASES = {
    "default": database_config(
        os.environ.get("DATABASE_URL", "") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) serve poll results on PostgreSQL; SQLite simply indexes the keys.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Our date and time formats (crm/formats/en/formats.py) over the locale's.
FORMAT_MODULE_PATH = ["crm.formats"]

STATIC_URL = "static/"
# Local runs serve static files straight from the apps (no collectstatic needed);
# production serves what `manage.py collectstatic` gathered here.
STATIC_ROOT = None if LOCAL else os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not LOCAL
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = LOCAL
WHITENOISE_AUTOREFRESH = DEBUG

# --- Client address and shared limits (issue 8) ---
# How many reverse proxies of ours stand in front of gunicorn. 0 (the default): the client is
# REMOTE_ADDR and X-Forwarded-For / X-Forwarded-Proto are ignored, as anyone can send them.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more")


def cache_config(url: str) -> dict:
    """Throttles count here: in each process's memory by default, shared by every worker and
    node with CACHE_URL=redis://host:6379/N."""
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, not {url!r}")


CACHES = {"default": cache_config(os.environ.get("CACHE_URL", "").strip())}

# Admin logins (django-axes): after AXES_FAILURE_LIMIT failures a username is locked, and so
# is an address, for the cool-off time; failures are rows in the database, so every worker
# and node counts them together. Unlock early with `manage.py axes_reset`.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "lib.client.client_address"
AXES_HTTP_RESPONSE_CODE = 429
# Its start-up banner would be the first line of every command and every worker.
AXES_VERBOSE = False
# --- end ---


def env_country(name: str, default: str) -> str:
    """An ISO alpha-2 code from "US", "USA" or a name, read as callbacks read countries."""
    value = os.environ.get(name, "").strip() or default
    code = country_code(value)
    if not code:
        raise ImproperlyConfigured(
            f"{name} must be a country (US, USA or United States), not {value[:40]!r}"
        )
    return code


# Callbacks: an identical callback (same endpoint, kind and parameters) within this many
# seconds is the sender's retry, stored as a duplicate and counted once; 0 turns it off.
# A campaign may set its own.
CALLBACK_DUPLICATE_WINDOW = env_int("CALLBACK_DUPLICATE_WINDOW", 600)
if CALLBACK_DUPLICATE_WINDOW < 0:
    raise ImproperlyConfigured("CALLBACK_DUPLICATE_WINDOW must be 0 or more seconds")
# Where callbacks wait, on local disk, while the database cannot take them
# (callbacks/spool.py); drained into the database once it is back.
CALLBACK_SPOOL_DIR = Path(os.environ.get("CALLBACK_SPOOL_DIR", "") or BASE_DIR / "spool")
# The spool stops taking callbacks (503, the sender retries) when its disk has less free.
CALLBACK_SPOOL_MIN_FREE_MB = env_int("CALLBACK_SPOOL_MIN_FREE_MB", 200)
if CALLBACK_SPOOL_MIN_FREE_MB < 0:
    raise ImproperlyConfigured("CALLBACK_SPOOL_MIN_FREE_MB must be 0 or more")

# Numbers that arrive without a country are read as numbers of this country.
DEFAULT_COUNTRY = env_country("DEFAULT_COUNTRY", "US")

# Security: production defaults, relaxed only for local runs over plain HTTP.
# X-Forwarded-Proto is believed only from a proxy we were told about (TRUSTED_PROXY_COUNT).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=not LOCAL)
# The platform calls the URLs as configured and does not follow redirects: a callback over
# plain HTTP is answered, not redirected (and lost). The admin and the API still redirect.
SECURE_REDIRECT_EXEMPT = [r"^callbacks/"]
SESSION_COOKIE_SECURE = not LOCAL
CSRF_COOKIE_SECURE = not LOCAL
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if LOCAL else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not LOCAL
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=not LOCAL)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# "text" for people, "json" (one object a line) for log collectors.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # No callback token (Django logs the path of every 4xx and 5xx answer) and no phone
    # number in any log line.
    "filters": {"redact": {"()": "lib.logs.Redact"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "lib.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        },
    },
    "loggers": {
        # Filtered where the record is made, so no handler (Django's own included) sees it.
        "django.request": {"filters": ["redact"], "propagate": True},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Logged in, and Django's model permissions, reads included (view_<model>).
    "DEFAULT_PERMISSION_CLASSES": ["lib.rest.ModelPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["lib.rest.TokenRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "lib.rest.TimeCursorPagination",
    # JSON in, JSON out: a form-encoded or multipart body is a 415, never half read.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # Every error in one shape ({"detail": ..., "errors": {...}}), declared in the schema.
    "EXCEPTION_HANDLER": "lib.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "lib.api.ContractSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Requests per integration user (so per token), e.g. "1000/min", "20/s", "50000/day".
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "1000/min").strip()
if not re.fullmatch(r"\d+/(s|sec|m|min|h|hour|d|day)", API_RATE_LIMIT):
    raise ImproperlyConfigured(f"API_RATE_LIMIT must look like 1000/min, not {API_RATE_LIMIT!r}")

SPECTACULAR_SETTINGS = {
    "TITLE": "Sumotext CRM API",
    "DESCRIPTION": "Subscribers, campaigns and what subscribers sent, for integrations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: JSON Schema 2020-12, whose propertyNames says what a custom field name may be
    # (3.0's draft 4 cannot constrain an object's keys).
    "OAS_VERSION": "3.1.0",
    # Operation ids without the version: subscribers_list, not v1_subscribers_list.
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "lib.api.text_patterns",
    ],
}

# bench/ingest.py's yardstick views (crm/bench_views.py); never on in production.
BENCH_VIEWS = env_bool("BENCH_VIEWS")

# Unfold's login form posts no "next": a login without one lands on the dashboard.
LOGIN_REDIRECT_URL = "admin:index"

# The admin (django-unfold): our name, no "View site" (there is no public site; the brand
# leads to the dashboard), the dashboard's figures and our few styles.
UNFOLD = {
    "SITE_TITLE": "Sumotext CRM",
    "SITE_HEADER": "Sumotext CRM",
    "SITE_URL": "/admin/",
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_HISTORY": False,
    "DASHBOARD_CALLBACK": "crm.dashboard.dashboard_callback",
    "STYLES": [lambda request: static("crm/admin.css")],
}
