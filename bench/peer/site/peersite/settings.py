"""Django's defaults plus what django-webhook's documentation asks for; SQLite in WAL mode
with IMMEDIATE transactions so that eight worker processes can write its event log."""

import os

SECRET_KEY = "bench-only"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django_webhook", "orders"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["PEER_DB"],
        "OPTIONS": {
            "timeout": 60,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
CELERY_BROKER_URL = os.environ["PEER_REDIS"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
DJANGO_WEBHOOK = {"MODELS": ["orders.Order"], "USE_CACHE": True}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
