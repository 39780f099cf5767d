"""The one settings module. Every value comes from the environment (see README, Configuration).

``DJANGO_ENV=production`` turns on the hard checks: no DEBUG, a real secret key, a master key
from the environment, secure cookies, HSTS and TLS redirects.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from config.env import (
    dev_secret_file,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HEROSHHI_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_choice("DJANGO_ENV", "development", {"development", "test", "production"})
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_ENV=production.")

_KEYS_DIR = VAR_DIR / "keys"

SECRET_KEY = env_secret("DJANGO_SECRET_KEY") or dev_secret_file(
    _KEYS_DIR / "django_secret_key", generate=not PRODUCTION, name="DJANGO_SECRET_KEY"
)
if PRODUCTION and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a random value of 50+ characters.")

# Field encryption (P02): versioned master keys wrap each workspace's data keys.
# Format: "<key id>:<base64 of 32 bytes>[,<key id>:<base64>...]"; the first entry is primary.
MASTER_KEYS = env_secret("HEROSHHI_MASTER_KEYS")
MASTER_KEY_FILE = _KEYS_DIR / "master.keys"
if PRODUCTION and not MASTER_KEYS:
    raise ImproperlyConfigured(
        "HEROSHHI_MASTER_KEYS (or HEROSHHI_MASTER_KEYS_FILE) is required in production."
    )
MASTER_KEY_GENERATE = not PRODUCTION

# The audit hash chain has its own key, never one of the data keys (P25).
AUDIT_HMAC_KEY = env_secret("HEROSHHI_AUDIT_KEY") or dev_secret_file(
    _KEYS_DIR / "audit.key", generate=not PRODUCTION, name="HEROSHHI_AUDIT_KEY"
)
AUDIT_RETENTION_DAYS = 365

# Backup archives are sealed with a key of their own, never a master key, so the archives,
# the backup key and the master keys can be kept in three places. Only the processes that
# run `backup`/`restore` need it: production never generates one, and those commands stop
# without it ("" here). HKDF does not stretch a short passphrase, hence the minimum length.
BACKUP_KEY = env_secret("HEROSHHI_BACKUP_KEY") or (
    ""
    if PRODUCTION
    else dev_secret_file(_KEYS_DIR / "backup.key", generate=True, name="HEROSHHI_BACKUP_KEY")
)
if BACKUP_KEY and len(BACKUP_KEY) < 32:
    raise ImproperlyConfigured("HEROSHHI_BACKUP_KEY must be a random value of 32+ characters.")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required in production.")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# How many reverse proxies sit in front of the app; the client IP is read that many hops
# from the right of X-Forwarded-For, so a client cannot choose its own address.
TRUSTED_PROXY_COUNT = env_int("HEROSHHI_TRUSTED_PROXY_COUNT", 0, minimum=0)
# Where those proxies connect from: X-Forwarded-* from any other address is dropped
# (heroshhi.core.middleware.TrustedProxyMiddleware).
FORWARDED_ALLOW_NETWORKS = env_networks("HEROSHHI_FORWARDED_ALLOW_IPS", ["127.0.0.1", "::1"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "heroshhi.core",
    "heroshhi.accounts",
    "heroshhi.workspaces",
    "heroshhi.audit",
    "heroshhi.api",
    "heroshhi.leads",
    "heroshhi.messaging",
    "heroshhi.whatsapp",
    "heroshhi.privacy",
    "heroshhi.demo",
]

MIDDLEWARE = [
    # Sends /webhooks/ requests through WEBHOOK_MIDDLEWARE below instead of this list.
    "heroshhi.core.middleware.WebhookChainMiddleware",
    # Sends /api/ requests through API_MIDDLEWARE below instead of this list.
    "heroshhi.api.chain.ApiChainMiddleware",
    "heroshhi.core.middleware.TrustedProxyMiddleware",
    "heroshhi.core.middleware.RequestIdMiddleware",
    # Above SecurityMiddleware so its HTTPS redirects carry the full header set too.
    "heroshhi.core.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "heroshhi.accounts.middleware.SessionLifetimeMiddleware",
    "heroshhi.workspaces.middleware.WorkspaceMiddleware",
    "heroshhi.accounts.middleware.TwoFactorEnforcementMiddleware",
    "heroshhi.api.middleware.ApiKeyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]
# Inbound webhooks (/webhooks/<source>/...) are machines posting signed bodies: they get the
# request id, every security header and the host check, and none of the session, CSRF,
# sign-in, workspace, message, locale or htmx layers above. Rate limits live in the views.
WEBHOOK_MIDDLEWARE = [
    "heroshhi.core.middleware.TrustedProxyMiddleware",
    "heroshhi.core.middleware.RequestIdMiddleware",
    "heroshhi.core.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The REST API (/api/) authenticates by bearer key alone: the same outer layers as a page,
# the client's language, and the key check with its rate limits; no session, CSRF, sign-in,
# workspace, message, htmx or static-file layers.
API_MIDDLEWARE = [
    "heroshhi.core.middleware.TrustedProxyMiddleware",
    "heroshhi.core.middleware.RequestIdMiddleware",
    "heroshhi.core.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "heroshhi.api.middleware.ApiKeyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "heroshhi.workspaces.context_processors.workspaces",
            ],
        },
    },
]

# Database: SQLite under var/ by default; DATABASE_URL switches to PostgreSQL.
_database_url = env_str("DATABASE_URL", "")
if _database_url:
    DATABASES = {
        "default": dj_database_url.parse(
            _database_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
        )
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "heroshhi.sqlite3"),
            "OPTIONS": {
                # WAL lets the web server, worker and beat read while one of them writes.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache (rate-limit counters, locks): Redis when REDIS_URL is set, else the database,
# which every local process shares.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "heroshhi.core.cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "heroshhi",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "heroshhi_cache",
        }
    }

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "workspaces:home"
LOGOUT_REDIRECT_URL = "accounts:login"

SESSION_COOKIE_AGE = env_int("HEROSHHI_SESSION_MAX_AGE", 12 * 3600, minimum=300)
HEROSHHI_SESSION_IDLE_SECONDS = env_int("HEROSHHI_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
PASSWORD_RESET_TIMEOUT = env_int("HEROSHHI_PASSWORD_RESET_TIMEOUT", 3600, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = PRODUCTION
if PRODUCTION:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# Transport security (P03, P12). TLS ends either at our own server (config/granian.py)
# or at a reverse proxy that sets X-Forwarded-Proto.
SECURE_SSL_REDIRECT = env_bool("HEROSHHI_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31_536_000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("HEROSHHI_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "heroshhi.core.errors.csrf_failure"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "script-src-attr": [CSP.NONE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Rate limits (P11), counted in the shared cache.
API_RATE_LIMIT_PER_MINUTE = env_int("HEROSHHI_API_RATE_LIMIT", 100, minimum=1)
API_ANONYMOUS_RATE_LIMIT_PER_MINUTE = env_int("HEROSHHI_API_ANON_RATE_LIMIT", 60, minimum=1)
WEBHOOK_RATE_LIMIT_PER_MINUTE = env_int("HEROSHHI_WEBHOOK_RATE_LIMIT", 6000, minimum=1)
# A web process wakes a workspace's webhook inbox at most once per this many milliseconds;
# a delivery stored in between is covered by one wake at the end of the interval (0: every
# delivery wakes it at once). docs/adr/0019.
WEBHOOK_WAKE_INTERVAL_MS = env_int("HEROSHHI_WEBHOOK_WAKE_MS", 50, minimum=0)

# Internationalisation: every string is marked for translation so Hindi can follow.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("hi", _("Hindi"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Kolkata"  # what people see; the database stores UTC
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# E-mail: files under var/mail in development; SMTP when EMAIL_HOST is set.
_email_host = env_str("EMAIL_HOST", "")
if _email_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": env_int("EMAIL_PORT", 587, minimum=1),
                "username": env_str("EMAIL_HOST_USER", ""),
                "password": env_secret("EMAIL_HOST_PASSWORD") or "",
                "use_tls": True,
                "timeout": 15,
            },
        }
    }
elif PRODUCTION:
    raise ImproperlyConfigured("EMAIL_HOST is required in production (password resets, alerts).")
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(VAR_DIR / "mail")},
        }
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Heroshhi Pro <no-reply@localhost>")

# Jobs. Without CELERY_BROKER_URL the worker and beat talk through a folder under var/
# (see docs/adr/0002-embedded-broker.md). Tasks take ids only and are safe to run twice.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "") or "filesystem://localhost/"
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "polling_interval": 0.2,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Where workers share a machine with the web server, they yield the CPU to it: Meta waits for
# each webhook's 200, while the inbox they drain can wait a moment (0 keeps full priority).
WORKER_NICE = env_int("HEROSHHI_WORKER_NICE", 10, minimum=0)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
# The schedule lives in code: every periodic job is listed here.
CELERY_BEAT_SCHEDULE = {
    "beat-tick": {"task": "heroshhi.core.tasks.beat_tick", "schedule": 30.0},
    # Commits wake the audit sequencer; this links whatever a lost wake-up left queued.
    "audit-sequence-backlog": {
        "task": "heroshhi.audit.tasks.audit_sequence_backlog",
        "schedule": 15.0,
    },
    "leads-speed-to-lead": {
        "task": "heroshhi.leads.tasks.speed_to_lead_alerts",
        "schedule": 60.0,
    },
    "leads-imports-sweep": {
        "task": "heroshhi.leads.tasks.lead_imports_sweep",
        "schedule": 300.0,
    },
    "leads-task-reminders": {
        "task": "heroshhi.leads.tasks.task_reminders_send",
        "schedule": 300.0,
    },
    # The retention engine is the one scheduler of purges (audit after 365 days, the
    # 30-day trash, owners' policies, terminated workspaces): see heroshhi/privacy/retention.py.
    "privacy-retention-run": {
        "task": "heroshhi.privacy.tasks.retention_run_daily",
        "schedule": 24 * 3600.0,
    },
    "whatsapp-webhooks-sweep": {
        "task": "heroshhi.whatsapp.tasks.webhook_deliveries_sweep",
        "schedule": 60.0,
    },
    "whatsapp-webhooks-prune": {
        "task": "heroshhi.whatsapp.tasks.webhook_deliveries_prune",
        "schedule": 6 * 3600.0,
    },
    "messaging-outbox-sweep": {
        "task": "heroshhi.messaging.tasks.pending_messages_sweep",
        "schedule": 60.0,
    },
    # Whole-workspace exports are deleted 24 hours after they are ready.
    "workspaces-exports-purge": {
        "task": "heroshhi.workspaces.tasks.workspace_exports_purge",
        "schedule": 900.0,
    },
    # Reminders are made once each, so a few runs a day only catch changes sooner.
    "privacy-requests-remind": {
        "task": "heroshhi.privacy.tasks.privacy_requests_remind",
        "schedule": 4 * 3600.0,
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
BEAT_STALE_AFTER_SECONDS = env_int("HEROSHHI_BEAT_STALE_AFTER", 180, minimum=30)

# Outbound HTTP (P01): only these hosts are reachable, over TLS 1.3.
EGRESS_ALLOWED_HOSTS = env_list(
    "HEROSHHI_EGRESS_ALLOWED_HOSTS", ["graph.facebook.com", "lookaside.fbsbx.com"]
)
# Plain-HTTP loopback hosts allowed for local simulators (never in production).
EGRESS_LOOPBACK_HTTP = env_bool("HEROSHHI_EGRESS_LOOPBACK_HTTP", not PRODUCTION)
if PRODUCTION and EGRESS_LOOPBACK_HTTP:
    raise ImproperlyConfigured("HEROSHHI_EGRESS_LOOPBACK_HTTP must be off in production.")
EGRESS_TIMEOUT_SECONDS = env_int("HEROSHHI_EGRESS_TIMEOUT", 15, minimum=1)

# WhatsApp Cloud API: Meta in production, the bundled simulator in development and tests.
WHATSAPP_SIMULATOR_PORT = env_int("HEROSHHI_WHATSAPP_SIMULATOR_PORT", 8790, minimum=1)
WHATSAPP_GRAPH_BASE_URL = env_str(
    "WHATSAPP_GRAPH_BASE_URL",
    "https://graph.facebook.com" if PRODUCTION else f"http://127.0.0.1:{WHATSAPP_SIMULATOR_PORT}",
)
WHATSAPP_GRAPH_API_VERSION = env_str("WHATSAPP_GRAPH_API_VERSION", "v23.0")
# Largest webhook body Meta sends (3 MB); anything bigger is refused before it is read.
WHATSAPP_WEBHOOK_MAX_BYTES = 3 * 1024 * 1024

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"debug", "info", "warning", "error"}).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "heroshhi.core.logging.RedactPersonalDataFilter"},
        "request_id": {"()": "heroshhi.core.logging.RequestIdFilter"},
    },
    "formatters": {"json": {"()": "heroshhi.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # SQL parameters can carry ciphertext and blind indexes; never log them.
        "django.db.backends": {"level": "WARNING", "propagate": True},
        # httpx logs whole URLs (query strings can carry tokens) at INFO; the egress client
        # logs host, method and status itself.
        "httpx": {"level": "WARNING", "propagate": True},
        "httpcore": {"level": "WARNING", "propagate": True},
    },
}

DEMO_OWNER_EMAIL = "owner@demo.heroshhi.test"
