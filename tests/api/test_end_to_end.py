"""Emit through the API and watch the event arrive, signed, at a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from app.rules.clock import system_clock
from app.storage.models import Event
from tests.helpers import ADMIN, Reply, create_webhook, eventually, serving

pytestmark = pytest.mark.postgres  # the database matters: run again by --db=postgres


@pytest.fixture
def live(settings):
    """Hookline with its scheduler and sender running, on the real clock."""
    with serving(settings, system_clock, run_sender=True) as client:
        yield client


def test_emitted_event_arrives_signed_with_the_exact_stored_bytes(live, receiver):
    webhook = create_webhook(live, url=receiver.url(), events=["order.*"])
    response = live.post("/api/v1/events", json={"type": "order.created", "data": {"id": "ord_1", "total": 4990}}, headers=ADMIN)
    event_id = response.json()["id"]

    (request,) = receiver.wait_for(1)
    assert request.body == Event.get_by_id(event_id).envelope()
    envelope = json.loads(request.body)
    assert envelope == {"id": event_id, "type": "order.created", "timestamp": envelope["timestamp"], "data": {"id": "ord_1", "total": 4990}}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Hookline/")
    assert request.headers["webhook-id"] == event_id
    assert request.headers["x-webhook-event"] == "order.created"

    # The official Standard Webhooks verifier accepts it ...
    verified = StandardWebhook(webhook["secret"]).verify(request.body, request.headers)
    assert verified["id"] == event_id
    # ... and so does the few-line hex check people copy from GitHub/Stripe docs.
    signed = request.headers["x-webhook-timestamp"].encode() + b"." + request.body
    expected = "sha256=" + hmac.new(webhook["secret"].encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["x-webhook-signature"])


def test_tampered_body_fails_verification(live, receiver):
    from standardwebhooks.webhooks import WebhookVerificationError

    webhook = create_webhook(live, url=receiver.url())
    live.post("/api/v1/events", json={"type": "order.paid", "data": {"amount": 1}}, headers=ADMIN)
    (request,) = receiver.wait_for(1)
    with pytest.raises(WebhookVerificationError):
        StandardWebhook(webhook["secret"]).verify(request.body.replace(b"1", b"2"), request.headers)


def test_send_test_reports_the_first_attempt(live, settings, receiver):
    answer_delay = 0.05
    receiver.plan("/ok", Reply(200, delay=answer_delay, body=b"thanks"))
    receiver.plan("/broken", 500)
    ok = create_webhook(live, url=receiver.url("/ok"), events=["order.paid"])
    broken = create_webhook(live, url=receiver.url("/broken"))

    report = live.post(f"/api/v1/webhooks/{ok['id']}/test", headers=ADMIN)
    assert report.status_code == 200
    body = report.json()
    assert body["delivery"]["status"] == "succeeded" and body["delivery"]["event_type"] == "webhook.test"
    assert body["attempt"]["response_status"] == 200 and body["attempt"]["response_body"] == "thanks"
    # How long the receiver took: at least its delay, and inside the request timeout.
    assert answer_delay * 1000 <= body["attempt"]["duration_ms"] < settings.request_timeout * 1000
    (request,) = receiver.to("/ok")
    assert json.loads(request.body)["type"] == "webhook.test"
    assert receiver.to("/broken") == [], "a test event goes to that webhook only"

    failed = live.post(f"/api/v1/webhooks/{broken['id']}/test", json={"type": "order.paid", "data": {"x": 1}}, headers=ADMIN).json()
    assert failed["attempt"]["response_status"] == 500
    assert failed["delivery"]["status"] == "pending" and failed["delivery"]["next_attempt_at"]


def test_resend_and_attempt_log_over_the_api(live, receiver):
    webhook = create_webhook(live, url=receiver.url())
    live.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN)
    receiver.wait_for(1)
    (delivery,) = live.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]
    assert live.post(f"/api/v1/deliveries/{delivery['id']}/resend", headers=ADMIN).status_code == 202
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]

    def both_attempts_logged():
        log = live.get(f"/api/v1/deliveries/{delivery['id']}", headers=ADMIN).json()["attempt_log"]
        return log if len(log) == 2 else None

    log = eventually(both_attempts_logged, what="two logged attempts")
    assert [a["number"] for a in log] == [1, 2] and {a["response_status"] for a in log} == {200}
    assert log[0]["request_headers"]["webhook-id"] == first.headers["webhook-id"]
