"""Settings for the tally example, read from the environment like on Heroku.

Every dyno (web, worker, one-off) gets the same config vars, so they all
reach the same database through DATABASE_URL: Postgres (``postgres://``, as
the heroku-postgresql add-on sets it, ``?sslmode=require`` included) or,
without an add-on, one SQLite file (``sqlite:////abs/path``).
"""
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}
# Nothing here is signed across processes (no sessions, no forms), so a random
# per-process key is a safe fallback; set SECRET_KEY before adding any of that.
SECRET_KEY = os.environ.get("SECRET_KEY") or get_random_secret_key()
ALLOWED_HOSTS = os.environ.get(
    "ALLOWED_HOSTS", "127.0.0.1,localhost,.localhost"
).split(",")

# counter first: its collectstatic (with the benchmark's asset-time knob)
# overrides staticfiles' own, as the earlier app wins.
INSTALLED_APPS = ["counter", "django.contrib.staticfiles"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "tally.urls"
WSGI_APPLICATION = "tally.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
    }
]


def sqlite_path(url: str) -> Path:
    """Read `sqlite:////abs/path` or `sqlite:///relative` as dj-database-url does."""
    if not url.startswith("sqlite:///"):
        raise ImproperlyConfigured(
            f"DATABASE_URL must be postgres://... or sqlite:///PATH, not {url!r}")
    # Joining an absolute path replaces BASE_DIR; a relative one lands in it.
    return BASE_DIR / url.removeprefix("sqlite:///")


def postgres(url: str) -> dict:
    """A ``postgres://user:password@host:port/name?sslmode=...`` URL as
    Django settings (what dj-database-url does, for the one form Heroku
    Postgres gives)."""
    parts = urlsplit(url)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        # Heroku Postgres closes idle connections; reuse one for a minute.
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def sqlite(url: str) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": sqlite_path(url),
        "OPTIONS": {
            # Web threads and workers in several processes share one file: WAL
            # lets readers run beside the writer, IMMEDIATE takes the write lock
            # at BEGIN (no "database is locked" on upgrade), and a writer waits
            # up to `timeout` seconds for the lock instead of failing at once.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            "transaction_mode": "IMMEDIATE",
            "timeout": 10,
        },
    }


DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///db.sqlite3")
DATABASES = {
    "default": postgres(DATABASE_URL)
    if DATABASE_URL.startswith(("postgres://", "postgresql://"))
    else sqlite(DATABASE_URL)
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Hashed file names: a page always asks for the exact CSS/JS it was built with.
STORAGES = {
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
    }
}

# Without this, DEBUG=False sends request errors only to (unset) admins; dyno
# logs should show why a page answered 500.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"}},
}
