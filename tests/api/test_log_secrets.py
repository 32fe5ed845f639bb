"""Secrets never reach the logs: a whole cycle (create, rotate, emit, deliver, API keys,
sign-in, a failing receiver, a portal link) with every logger at DEBUG, then no record may
contain a webhook secret, a receiver's credential header, an API key, a password, a session
cookie or a portal token."""

from __future__ import annotations

import base64
import logging

from bs4 import BeautifulSoup

from app.delivery.signing import secret_key
from app.services.server_secrets import signing_keys
from app.storage.models import Attempt, Delivery
from tests.helpers import ADMIN, ADMIN_KEY, ADMIN_PASSWORD, ADMIN_USER, Reply, eventually, serving, sign_in

RECEIVER_TOKEN = "Bearer receiver-credential-9876"


def test_no_secret_appears_in_any_log_record(settings, clock, receiver, caplog):
    from app.services.users import create_first_admin

    caplog.set_level(logging.DEBUG)
    receiver.plan("/failing", Reply(500, body=b"nope"))
    with serving(settings, clock, run_sender=True) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        dashboard = sign_in(client)
        created = client.post("/api/v1/webhooks", json={"url": receiver.url(), "headers": {"Authorization": RECEIVER_TOKEN}},
                              headers=ADMIN).json()
        failing = client.post("/api/v1/webhooks", json={"url": receiver.url("/failing")}, headers=ADMIN).json()
        page = BeautifulSoup(dashboard.post(f"/webhooks/{created['id']}/rotate-secret", {}).text, "html.parser")
        rotated = page.select_one("#signing-secret")["value"]
        key_page = BeautifulSoup(dashboard.post("/api-keys", {"name": "ci"}).text, "html.parser")
        api_key = key_page.select_one("#new-api-key")["value"]
        assert client.post("/api/v1/events", json={"type": "order.created"}, headers={"Authorization": f"Bearer {api_key}"}).status_code == 202
        assert client.post("/api/v1/events", json={"type": "order.created"}, headers={"X-API-Key": "hl_wrong_" + api_key[9:]}).status_code == 401
        receiver.wait_for(1, "/hook")
        receiver.wait_for(1, "/failing")
        portal = client.post("/api/v1/tenants/acme/portal-link", headers=ADMIN).json()["url"]
        recorded = Attempt.select().join(Delivery).where(Delivery.webhook == failing["id"])
        eventually(recorded.exists, 10, "the failed attempt recorded")
        session_cookie = client.cookies["hookline_session"]

    secrets = {
        "first secret": created["secret"],
        "receiver credential header": RECEIVER_TOKEN,
        "rotated secret": rotated,
        "rotated secret key bytes": base64.b64encode(secret_key(rotated)).decode(),
        "failing webhook secret": failing["secret"],
        "API key": api_key,
        "admin key": ADMIN_KEY,
        "password": ADMIN_PASSWORD,
        "session cookie": session_cookie,
        "portal token": portal.rsplit("/", 1)[1],
        "session signing key": base64.b64encode(signing_keys("session")[-1]).decode(),
        "portal signing key": base64.b64encode(signing_keys("portal link")[-1]).decode(),
    }
    # httpcore is only this test's own client (Hookline sends through aiohttp): its DEBUG
    # lines are the browser's side of the conversation, Set-Cookie included.
    logged = [record.getMessage() + (record.exc_text or "") for record in caplog.records
              if not record.name.startswith("httpcore")]
    assert len(logged) > 10, "the cycle must actually have logged something"
    for name, value in secrets.items():
        leaks = [line for line in logged if value in line]
        assert not leaks, f"{name} appears in the log: {leaks[0][:300]}"
