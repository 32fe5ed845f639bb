"""A minimal Django project that sends webhooks with django-webhook, for the peer benchmark.

It runs only inside the throwaway venv under bench/.cache/peer-venv, never in Hookline's.
"""

from peersite.celery import app as celery_app

__all__ = ["celery_app"]
