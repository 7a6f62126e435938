"""Django settings for CoordLab.

Everything a deployment changes comes from the environment:

- ``COORDLAB_SECRET_KEY`` (otherwise a key is generated once into ``var/``),
- ``COORDLAB_DEBUG=1`` for Django's debug pages,
- ``COORDLAB_ALLOWED_HOSTS`` (comma-separated),
- ``COORDLAB_LECTURE_HOSTS``: set by ``make lecture`` (``coordlab.serve --lecture``)
  to the names and LAN addresses students reach this machine by; they are allowed
  too, and a page opened at 127.0.0.1 gives out the first (``coordlab.lecture``),
- ``DATABASE_URL`` for PostgreSQL (``postgres://user:password@host:5432/name``;
  ``sqlite:////absolute/path`` also works); otherwise SQLite in ``var/``
  (``COORDLAB_SQLITE_PATH`` moves the file),
- ``REDIS_URL`` to share frames between several server processes,
- ``COORDLAB_FRAMES_PER_SECOND``: how often labs advance (default 20, at most 20); a lab sends
  at most half as many frames while it only moves on (messages in flight move smoothly
  anyway: the page animates them), and one right after a command,
- ``COORDLAB_SAVE_EVERY_S``: how often labs that changed are saved to the
  database (2 seconds; they are also saved when the server stops),
- ``COORDLAB_DIRECT_WRITES=0`` to send frames through ASGI even under daphne.
"""

from __future__ import annotations

import os
import secrets
import urllib.parse
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("COORDLAB_VAR_DIR", BASE_DIR / "var"))


def _secret_key() -> str:
    key = os.environ.get("COORDLAB_SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("COORDLAB_DEBUG", "") == "1"
COORDLAB_LECTURE_HOSTS = [host for host in os.environ.get("COORDLAB_LECTURE_HOSTS", "").split(",") if host]
ALLOWED_HOSTS = [*os.environ.get("COORDLAB_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(","),
                 *COORDLAB_LECTURE_HOSTS]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "coordlab",
    # Every lab kind is a top-level ``<name>_app`` package whose AppConfig registers its ``LabKind``.
    *sorted(app.parent.name for app in BASE_DIR.glob("*_app/apps.py")),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "coordlab.middleware.LabsFullPage",
]

ROOT_URLCONF = "coordlab.urls"
ASGI_APPLICATION = "coordlab.asgi.application"

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
                "coordlab.lecture.server_url",
            ],
        },
    },
    {
        # The fragments frames re-render most (coordlab/jinja.py); a name the Django engine
        # does not find is looked up here.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "coordlab.jinja.environment"},
    },
]



def database_from_url(url: str) -> dict[str, Any]:
    """Django's settings for the database a ``DATABASE_URL`` names (PostgreSQL or SQLite)."""
    parts = urllib.parse.urlsplit(url)
    unquote = urllib.parse.unquote
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        options = dict(urllib.parse.parse_qsl(parts.query))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            # ?host=/var/run/postgresql for a Unix socket
            "HOST": unquote(parts.hostname or "") or options.pop("host", ""),
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parts.path[1:]) or ":memory:"}
    raise ValueError(f"DATABASE_URL must start with postgres:// or sqlite://, not {parts.scheme or url!r}")


if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("COORDLAB_SQLITE_PATH", str(VAR_DIR / "coordlab.sqlite3")),
        }
    }

#: with Redis, several server processes share the labs (each lab run by one of them, see coordlab.labs.peers)
COORDLAB_REDIS_URL = os.environ.get("REDIS_URL", "")
#: a socket timeout above channels_redis's 5 s blocking pop: with redis-py 8's default an idle
#: receive ends in a TimeoutError instead of an empty answer
COORDLAB_REDIS_OPTIONS = {"socket_timeout": 30}

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": os.environ["REDIS_URL"], **COORDLAB_REDIS_OPTIONS}], "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }

COORDLAB_FRAMES_PER_SECOND = min(20.0, float(os.environ.get("COORDLAB_FRAMES_PER_SECOND", "20")))
COORDLAB_SAVE_EVERY_S = float(os.environ.get("COORDLAB_SAVE_EVERY_S", "2"))
#: a lab nobody has watched for this long is saved and put away (it comes back on first access)
COORDLAB_IDLE_EVICT_S = float(os.environ.get("COORDLAB_IDLE_EVICT_S", "600"))
#: at most this many labs run in one server process; to start another, the labs unwatched for
#: the longest are saved and put away (an idle Kafka lab takes about 2 MB, a watched one a few
#: percent of a core)
COORDLAB_MAX_LABS = int(os.environ.get("COORDLAB_MAX_LABS", "100"))
#: while a Kafka lab runs in this process, each of its brokers takes a port of this range (first free
#: one) and answers real Kafka clients on it, bound on COORDLAB_WIRE_HOST (kafka_app/wire); empty: none
COORDLAB_KAFKA_PORTS = os.environ.get("COORDLAB_KAFKA_PORTS", "19000-19999")
COORDLAB_WIRE_HOST = os.environ.get("COORDLAB_WIRE_HOST", "127.0.0.1")
#: labs all the browsers at one network address keep between them (fresh sessions cost nothing,
#: labs cost memory); raise it for a class that shares one address behind a NAT
COORDLAB_MAX_SANDBOXES_PER_ADDRESS = int(os.environ.get("COORDLAB_MAX_SANDBOXES_PER_ADDRESS", "30"))
# Under daphne, frames are written straight to viewers' sockets (see
# coordlab/labs/transport.py); "0" keeps the plain ASGI send path, for comparison.
COORDLAB_DIRECT_WRITES = os.environ.get("COORDLAB_DIRECT_WRITES", "1") != "0"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it; collectstatic fills it
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "coordlab": {"handlers": ["console"], "level": "INFO"},
        # a request for a host name that is not allowed (in a lecture: a name students use that
        # `make lecture HOSTS=` should add)
        "django.security.DisallowedHost": {"handlers": ["console"], "level": "ERROR", "propagate": False,
                                           "filters": ["refused_host"]},
    },
    "filters": {"refused_host": {"()": "coordlab.lecture.RefusedHost"}},
}
