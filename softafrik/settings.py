"""SoftAfrik settings: one module, every deployment-specific value from the environment.

With no environment at all it runs on embedded defaults (SQLite and a filesystem
Celery broker under ``.local/``) so ``make run`` needs no server; ``DATABASE_URL`` and
``REDIS_URL`` switch it to PostgreSQL and Redis, as in production and CI.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from kombu import Exchange, Queue

from softafrik.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(env_str("SOFTAFRIK_LOCAL_DIR", str(BASE_DIR / ".local")))
LOCAL_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret(filename: str) -> str:
    """A random secret kept in .local/ so a dev install is stable across restarts.

    Production sets the variable instead; nothing secret is ever in the code.
    """
    path = LOCAL_DIR / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or _local_secret("secret_key")
# Fernet keys (comma separated, newest first) for provider credentials at rest. Without
# them a key is derived from SECRET_KEY (see softafrik.crypto).
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # The admin's theme (its own assets, no CDN): before django.contrib.admin, whose
    # templates it overrides; it makes admin.site its UnfoldAdminSite (softafrik/dashboard.py).
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "softafrik.beat.PeriodicTasksConfig",  # django-celery-beat, its admin for platform superusers only
    "accounts",
    "devices",
    "notifications.core",
    "notifications",
    "notifications.webhooks",
    "sms",
    "scenarios",
    "billing",
    "console",  # sending from the dashboard (/admin/send/)
    "reports",  # the dashboard's aggregates and the reports (the "reports" consumer of status events)
    "website",  # the public site: home, docs, prices, about (softafrik/urls.py routes it at /)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "softafrik.middleware.BrowserOnly",  # runs BROWSER_MIDDLEWARE, except for API paths
]
# The admin's needs. API calls (key-authenticated, no cookies) skip them: see softafrik.middleware.
BROWSER_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's, defaulting to SITE_LANGUAGE_CODE until the visitor chooses (softafrik.middleware).
    "softafrik.middleware.LocaleMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Every API dialect's root, the provider callbacks and the metrics.
API_PATH_PREFIXES = ("/api/", "/v2/", "/SMS/", "/push/", "/omni/", "/sms/callbacks/", "/metrics")
# The admin checks look for sessions, auth and messages in MIDDLEWARE itself; BrowserOnly
# runs them for the admin (softafrik/tests/test_middleware.py proves it).
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

ROOT_URLCONF = "softafrik.urls"
WSGI_APPLICATION = "softafrik.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own: templates/admin/ extends the admin's base_site and index.
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "billing.context_processors.billing_account",  # the admin's balance and low-balance banner
                "website.context_processors.site",  # SITE_NAME and the rest of the brand
            ]
        },
    }
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{LOCAL_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, trusting a connection that finished a request cleanly within
    # DB_HEALTH_CHECK_TRUST_SECONDS instead of sending SELECT 1 first (softafrik/postgres).
    DATABASES["default"]["ENGINE"] = "softafrik.postgres"
    # Django turns psycopg's prepared statements off (for transaction-mode poolers), which
    # also turned off the few hot statements SoftAfrik prepares on purpose
    # (softafrik.bulk.prepared_fetchone/_fetchall: the accepts, the reservation, claims): each was
    # parsed and planned again on every call, a third of a priced accept's database time.
    # Django's own queries bind client-side and are never prepared either way. Behind a
    # pooler in transaction mode that cannot keep prepared statements, set it to false.
    if env_bool("DB_PREPARED_STATEMENTS", True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
DB_HEALTH_CHECK_TRUST_SECONDS = env_float("DB_HEALTH_CHECK_TRUST_SECONDS", 1.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat are separate processes writing one file: WAL, a busy timeout
    # and IMMEDIATE transactions turn lock contention into waiting instead of errors.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not in-memory) so end-to-end tests' worker processes can open it; one per
    # test run so two runs on one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(LOCAL_DIR / f"test-{os.getpid()}.sqlite3")}

# --- Redis, cache and Celery ----------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Tasks here are short; timers and schedules live in the database (beat dispatches
        # them), so nothing is ever delayed long enough to meet this and be redelivered.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _broker_dir = LOCAL_DIR / "broker"
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Exchange bindings (the task queue's, the workers' pidbox); kombu's default is
        # "control" in the working directory, which put a control/ folder in the repository.
        "control_folder": str(_broker_dir / "control"),
    }

CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "softafrik")
# Beat's omni tick (the scenarios' timers) has a queue of its own, which every worker
# consumes too (no -Q: workers take all of CELERY_TASK_QUEUES): a fallback SMS is not
# held up behind thousands of queued send tasks.
CELERY_TIMERS_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-timers"
# One direct exchange, each queue bound by its own name: a task goes to one queue only.
_exchange = Exchange(CELERY_TASK_DEFAULT_QUEUE, type="direct")
CELERY_TASK_QUEUES = [
    Queue(name, _exchange, routing_key=name) for name in (CELERY_TASK_DEFAULT_QUEUE, CELERY_TIMERS_QUEUE)
]
CELERY_TASK_DEFAULT_EXCHANGE = CELERY_TASK_DEFAULT_QUEUE
CELERY_TASK_DEFAULT_ROUTING_KEY = CELERY_TASK_DEFAULT_QUEUE
# The billing consumer too: settling a large send is not held up behind its own chunks.
CELERY_TASK_ROUTES = {
    "scenarios.tasks.omni_tick": {"queue": CELERY_TIMERS_QUEUE},
    "billing.tasks.billing_tick": {"queue": CELERY_TIMERS_QUEUE},
    "reports.tasks.reports_tick": {"queue": CELERY_TIMERS_QUEUE},
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a killed worker's task is delivered again ...
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ... and tasks claim rows, so a repeat is harmless
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless this is
# set: a new PostgreSQL backend per task (fork, authentication, cold caches). Workers
# instead keep connections as web requests do, CONN_MAX_AGE and health checks included
# (softafrik/celery.py runs Django's close_old_connections around each task).
CELERY_DB_REUSE_MAX = 10**9
# The garbage collector in web and worker processes (softafrik/heap.py): what a started
# process holds is frozen, and young collections run every GC_GEN0_THRESHOLD net
# allocations instead of 700. GC_FREEZE=0 and GC_GEN0_THRESHOLD=0: Python's defaults.
GC_FREEZE = env_bool("GC_FREEZE", True)
GC_GEN0_THRESHOLD = env_int("GC_GEN0_THRESHOLD", 10_000)
# Beat keeps the periodic tasks in the database, where operators see and change them in
# the admin; CELERY_BEAT_SCHEDULE is written to them at every beat start (softafrik/beat.py).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
BEAT_SWEEP_SECONDS = env_float("BEAT_SWEEP_SECONDS", 2.0)
CELERY_BEAT_SCHEDULE = {
    # Timers live in the database; beat only wakes the sweeper that dispatches what is due.
    "push-deliveries-due": {"task": "notifications.tasks.deliveries_dispatch_due", "schedule": BEAT_SWEEP_SECONDS},
    "sms-tick": {"task": "sms.tasks.sms_tick", "schedule": BEAT_SWEEP_SECONDS},
}

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.authentication.HasTenant"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "softafrik.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SoftAfrik API",
    "DESCRIPTION": "Push, inbox and SMS for your customers, through one API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {
        "IonTypeEnum": "softafrik.dialects.ion.ION_TYPE_CHOICES",
        "IonStatutEnum": "softafrik.dialects.ion.ION_STATUT_CHOICES",
        "IonNumeroStatutEnum": "softafrik.dialects.ion.ION_NUMERO_STATUT_CHOICES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# An authenticated API key is cached in-process this many seconds (revocation is also
# pushed through the cache version, see accounts.selectors).
API_KEY_CACHE_SECONDS = env_float("API_KEY_CACHE_SECONDS", 10.0)
# Every key's rate limits unless it has its own (accounts.ratelimit): requests a second
# and a minute, counted in Redis across every web process (in-process without REDIS_URL).
# 0: no limit in that window (both 0: rate limits off).
API_RATE_PER_SECOND = env_int("API_RATE_PER_SECOND", 50)
API_RATE_PER_MINUTE = env_int("API_RATE_PER_MINUTE", 1500)
# Reverse proxies (CIDRs) whose X-Forwarded-For names the client, for keys limited to
# networks (accounts.networks). Empty: the client is REMOTE_ADDR, the header is ignored.
API_TRUSTED_PROXIES = env_list("API_TRUSTED_PROXIES")

# --- Push providers -------------------------------------------------------------------
FCM_API_URL = env_str("FCM_API_URL") or None  # None: Google's endpoint
# "aiohttp": the lean asyncio client on the shared loop (fcm_aiohttp); "firebase-admin":
# its send_each (requests and a thread per message), kept to measure against.
FCM_TRANSPORT = env_str("FCM_TRANSPORT", "aiohttp")
if FCM_TRANSPORT not in ("aiohttp", "firebase-admin"):
    raise ValueError(f"FCM_TRANSPORT must be 'aiohttp' or 'firebase-admin', got {FCM_TRANSPORT!r}")
# "h2": the adapter's own HTTP/2 client on the shared loop (apns_h2); "httpx": the
# httpx client it replaced (apns_httpx), kept to measure against.
APNS_TRANSPORT = env_str("APNS_TRANSPORT", "h2")
if APNS_TRANSPORT not in ("h2", "httpx"):
    raise ValueError(f"APNS_TRANSPORT must be 'h2' or 'httpx', got {APNS_TRANSPORT!r}")
APNS_URL = env_str("APNS_URL") or None  # None: Apple's, sandbox or production per app
APNS_CA_FILE = env_str("APNS_CA_FILE") or None
WEBPUSH_VAPID_SUBJECT = env_str("WEBPUSH_VAPID_SUBJECT", "mailto:ops@softafrik.local")
WEBPUSH_TIMEOUT = env_float("WEBPUSH_TIMEOUT", 10.0)
# Browsers only hand out https endpoints; plain http is for local fakes (an SSRF risk otherwise).
WEBPUSH_ALLOW_HTTP = env_bool("WEBPUSH_ALLOW_HTTP", False)
PUSH_TTL_SECONDS = env_int("PUSH_TTL_SECONDS", 4 * 7 * 86400)  # FCM's maximum: four weeks
PUSH_MAX_ATTEMPTS = env_int("PUSH_MAX_ATTEMPTS", 5)
PUSH_DISPATCH_GRACE_SECONDS = env_float("PUSH_DISPATCH_GRACE_SECONDS", 30.0)
PUSH_SENDING_LEASE_SECONDS = env_float("PUSH_SENDING_LEASE_SECONDS", 300.0)

# --- SMS --------------------------------------------------------------------------------
SMS_MAX_PARTS = env_int("SMS_MAX_PARTS", 10)
SMS_MAX_ATTEMPTS = env_int("SMS_MAX_ATTEMPTS", 5)
SMS_DISPATCH_GRACE_SECONDS = env_float("SMS_DISPATCH_GRACE_SECONDS", 30.0)
SMS_SENDING_LEASE_SECONDS = env_float("SMS_SENDING_LEASE_SECONDS", 300.0)
# Public base URL of this platform, for provider delivery callbacks (Twilio StatusCallback).
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# --- E-mail (low-balance alerts to a tenant's staff) -------------------------------------
# Without EMAIL_HOST, e-mails are written to the worker's console (development).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0)  # a worker never hangs on a mail server
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "SoftAfrik <noreply@localhost>")

# --- Billing ----------------------------------------------------------------------------
# A new tenant's account (billing.services.account_ensure): its type, its unit ("credits"
# or an ISO 4217 code), the trial credit it gets once, and its low-balance threshold,
# amounts in that unit ("10", "1.0").
BILLING_DEFAULT_TYPE = env_str("BILLING_DEFAULT_TYPE", "prepaid")
BILLING_DEFAULT_UNIT = env_str("BILLING_DEFAULT_UNIT", "credits")
BILLING_TRIAL_CREDIT = env_str("BILLING_TRIAL_CREDIT", "10")
BILLING_LOW_BALANCE_DEFAULT = env_str("BILLING_LOW_BALANCE_DEFAULT", "0")
# Prices in credits when no tariff matches (billing.pricing): one SMS part costs one credit
# (ION's "1000 SMS"), a push nothing. Accounts in a currency need tariffs.
BILLING_DEFAULT_SMS_CREDITS = env_str("BILLING_DEFAULT_SMS_CREDITS", "1")
BILLING_DEFAULT_PUSH_CREDITS = env_str("BILLING_DEFAULT_PUSH_CREDITS", "0")
# Tariffs and account units are kept in each process this long.
BILLING_CACHE_SECONDS = env_float("BILLING_CACHE_SECONDS", 10.0)
CELERY_BEAT_SCHEDULE["billing-tick"] = {"task": "billing.tasks.billing_tick", "schedule": BEAT_SWEEP_SECONDS}
# Monthly invoices and statements (billing.invoices): who issues them, as the PDF names it;
# beat closes every complete month hourly (a missed run catches up).
BILLING_INVOICE_ISSUER = env_str("BILLING_INVOICE_ISSUER", "SoftAfrik")
# TrueType fonts of the invoice PDF (any script the font covers); without them, a core
# font that only knows Latin-1 (billing/invoice_render.py). Default: Debian's fonts-dejavu.
INVOICE_FONT = env_str("INVOICE_FONT", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
INVOICE_FONT_BOLD = env_str("INVOICE_FONT_BOLD", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
CELERY_BEAT_SCHEDULE["billing-invoices"] = {"task": "billing.tasks.invoices_close", "schedule": 3600}

# --- Idempotent requests ----------------------------------------------------------------
# A send with an Idempotency-Key (softafrik.idempotency): its answer is replayed for this
# many hours, then the key may be used again (beat purges the records hourly). A claim
# still processing after IDEMPOTENCY_LEASE_SECONDS is a crashed request's: the next
# request with the key takes it over.
IDEMPOTENCY_RETENTION_HOURS = env_int("IDEMPOTENCY_RETENTION_HOURS", 24)
IDEMPOTENCY_LEASE_SECONDS = env_int("IDEMPOTENCY_LEASE_SECONDS", 60)
CELERY_BEAT_SCHEDULE["idempotency-purge"] = {"task": "accounts.tasks.idempotency_purge", "schedule": 3600.0}

# --- Status events --------------------------------------------------------------------
# Every status change of every recipient is an event (notifications.core.events); beat
# deletes those older than this, once every consumer has handled them.
EVENT_RETENTION_DAYS = env_float("EVENT_RETENTION_DAYS", 30.0)
CELERY_BEAT_SCHEDULE["events-purge"] = {"task": "notifications.tasks.events_purge", "schedule": 3600.0}

# --- Webhooks ---------------------------------------------------------------------------
# Off: webhook URLs may only reach public addresses (checked when saved and at every
# connection). On: local receivers (development, tests).
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)
WEBHOOK_CONNECT_TIMEOUT = env_float("WEBHOOK_CONNECT_TIMEOUT", 3.0)
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 10.0)  # each read and write of one attempt
# Seconds before each attempt, the first counted from the event: the published schedule
# (docs/webhooks.md: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each jittered by
# +-WEBHOOK_RETRY_JITTER.
_WEBHOOK_SCHEDULE = ["0", "5", "300", "1800", "7200", "18000", "36000", "36000"]
WEBHOOK_RETRY_SCHEDULE = [float(seconds) for seconds in env_list("WEBHOOK_RETRY_SCHEDULE", _WEBHOOK_SCHEDULE)]
WEBHOOK_RETRY_JITTER = env_float("WEBHOOK_RETRY_JITTER", 0.1)
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 16)  # requests in flight per worker process
WEBHOOK_CHUNK_SECONDS = env_float("WEBHOOK_CHUNK_SECONDS", 30.0)  # a chunk starts no request after this
WEBHOOK_SENDING_LEASE_SECONDS = env_float("WEBHOOK_SENDING_LEASE_SECONDS", 300.0)
WEBHOOK_DISPATCH_GRACE_SECONDS = env_float("WEBHOOK_DISPATCH_GRACE_SECONDS", 60.0)
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30)  # finished deliveries and their attempts
CELERY_BEAT_SCHEDULE["webhooks-tick"] = {
    "task": "notifications.webhooks.tasks.webhooks_tick",
    "schedule": BEAT_SWEEP_SECONDS,
}
CELERY_BEAT_SCHEDULE["webhooks-purge"] = {"task": "notifications.webhooks.tasks.webhooks_purge", "schedule": 3600.0}

# --- Omni scenarios -------------------------------------------------------------------
# The fallback engine's tick: status events move the steps, then due timers fire (a step
# times out within its timeout + this period + one tick's work).
CELERY_BEAT_SCHEDULE["omni-tick"] = {"task": "scenarios.tasks.omni_tick", "schedule": BEAT_SWEEP_SECONDS}
# How long a tick's lock outlives a tick killed mid-way (one tick runs at a time).
OMNI_TICK_LOCK_SECONDS = env_int("OMNI_TICK_LOCK_SECONDS", 30)

# --- Reports ----------------------------------------------------------------------------
# The "reports" consumer folds status events into daily aggregates (reports.consumer),
# which the admin's first page and its reports read; beat purges hourly what it keeps
# only for a while: the keys of counted changes (a repeated event, a push receipt days
# later, counts nothing twice within this) and the failures the dashboard lists.
CELERY_BEAT_SCHEDULE["reports-tick"] = {"task": "reports.tasks.reports_tick", "schedule": BEAT_SWEEP_SECONDS}
CELERY_BEAT_SCHEDULE["reports-purge"] = {"task": "reports.tasks.reports_purge", "schedule": 3600.0}
REPORTS_COUNTED_DAYS = env_float("REPORTS_COUNTED_DAYS", 60.0)
REPORTS_FAILURES_DAYS = env_float("REPORTS_FAILURES_DAYS", 30.0)

# --- The admin dashboard (django-unfold) ------------------------------------------------
# Its header shows the tenant's name and logo, its sidebar only what the user may see: the
# callables are in softafrik/dashboard.py (unfold calls each with the request).
UNFOLD = {
    "SITE_TITLE": "softafrik.dashboard.site_title",
    "SITE_HEADER": "softafrik.dashboard.site_header",
    "SITE_SUBHEADER": "softafrik.dashboard.site_subheader",
    "SITE_ICON": "softafrik.dashboard.site_icon",
    "SITE_SYMBOL": "notifications",
    "SHOW_LANGUAGES": True,  # the language switch (set_language: remembered in a cookie)
    "SHOW_HISTORY": True,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,  # every other list (attempts, steps...) one click away
        "navigation": "softafrik.dashboard.sidebar_navigation",
    },
}
# Uploaded files (the tenants' logos). softafrik.dashboard serves a logo to its tenant's
# staff, so no public media URL is needed; production puts it on persistent storage.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(LOCAL_DIR / "media")))

# --- The public site and the browser pages' languages ------------------------------------
# The brand of the site served at / (website app); an operator rebrands it here and by
# overriding its templates in templates/website/ (docs/operations.md).
SITE_NAME = env_str("SITE_NAME", "SoftAfrik")
SITE_TAGLINE = env_str("SITE_TAGLINE")  # empty: the built-in tagline, in the visitor's language
SITE_CONTACT_EMAIL = env_str("SITE_CONTACT_EMAIL")  # empty: the about page names no address
# Browser pages (site, admin) are in French or English: SITE_LANGUAGE_CODE until the
# visitor chooses with the language switch (set_language, remembered in Django's language
# cookie). API answers skip the locale middleware and stay in LANGUAGE_CODE.
LANGUAGES = [("fr", "Français"), ("en", "English")]
SITE_LANGUAGE_CODE = env_str("SITE_LANGUAGE_CODE", "fr")
# Catalogues of the project-level templates (templates/); each app keeps its own in <app>/locale.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "softafrik" / "locale"]  # the 2nd: the admin theme's
LANGUAGE_COOKIE_AGE = 365 * 86400

# --- The rest -------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = LOCAL_DIR / "static"
# Admin and API-docs assets are served by the app itself (no CDN, no collectstatic needed).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
PASSWORD_HASHERS = env_list("PASSWORD_HASHERS") or [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "fontTools": {"level": "WARNING"},  # fpdf2 subsets the invoice font, logging each table at INFO
        # One line per task received/succeeded, every 2 s for the sweepers: too chatty for INFO.
        "celery.worker.strategy": {"level": env_str("CELERY_TASK_LOG_LEVEL", "WARNING")},
        "celery.app.trace": {"level": env_str("CELERY_TASK_LOG_LEVEL", "WARNING")},
        "celery.beat": {"level": env_str("CELERY_TASK_LOG_LEVEL", "WARNING")},
    },
}
