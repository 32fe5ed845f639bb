"""The stand-in peer, used only when django-webhook cannot run: a Celery task per delivery
that signs and POSTs with httpx and retries with backoff, what such a setup is by hand."""

import hashlib
import hmac
import os
import time

import httpx
from celery import Celery

app = Celery("standin", broker=os.environ["PEER_REDIS"])
app.conf.task_ignore_result = True
client = httpx.Client(timeout=10)


@app.task(bind=True, max_retries=5, retry_backoff=True, autoretry_for=(httpx.HTTPError,))
def deliver(self, url: str, body: str, secret: str) -> None:
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Timestamp": timestamp, "X-Signature": signature}
    client.post(url, content=body, headers=headers).raise_for_status()
