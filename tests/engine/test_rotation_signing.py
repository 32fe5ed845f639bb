"""Secret rotation seen from a receiver: both secrets verify during the grace period, only
the new one after it. The rotate-secret action fills the columns; here they are set directly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from app.delivery.signing import generate_secret
from app.storage.models import Webhook
from tests.helpers import emit, make_webhook

pytestmark = pytest.mark.anyio

GRACE = 60  # seconds; short, so the official verifier's 5-minute timestamp tolerance still holds


def rotated_webhook(settings, clock, url) -> tuple[str, str]:
    """A webhook whose secret was just rotated: returns (new secret, old secret)."""
    webhook = make_webhook(settings, clock, url)
    old = generate_secret()
    Webhook.update(previous_secret=old, previous_secret_expires_at=clock() + timedelta(seconds=GRACE)).where(
        Webhook.id == webhook.id
    ).execute()
    return webhook.secret, old


async def deliver_one(settings, clock, receiver, engine):
    emit(settings, clock)
    assert await engine.run() == 1
    return receiver.requests[-1]


@pytest.mark.parametrize("seconds_into_grace", [0, GRACE - 1])
async def test_either_secret_verifies_during_the_grace_period(db, settings, clock, receiver, engine, seconds_into_grace):
    new, old = rotated_webhook(settings, clock, receiver.url())
    clock.advance(seconds_into_grace)
    request = await deliver_one(settings, clock, receiver, engine)

    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Verifier(secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(generate_secret()).verify(request.body, request.headers)


@pytest.mark.parametrize("seconds_after_expiry", [0, 1])
async def test_only_the_new_secret_verifies_after_the_grace_period(db, settings, clock, receiver, engine, seconds_after_expiry):
    new, old = rotated_webhook(settings, clock, receiver.url())
    clock.advance(GRACE + seconds_after_expiry)
    request = await deliver_one(settings, clock, receiver, engine)

    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Verifier(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Verifier(old).verify(request.body, request.headers)


async def test_a_retry_after_the_grace_period_drops_the_old_signature(db, settings, clock, receiver, engine):
    """The secrets are chosen when each attempt is sent, not when the event was emitted."""
    receiver.plan("/hook", 500, 200)
    new, old = rotated_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    clock.advance(GRACE)
    await engine.run()

    first, retry = receiver.to("/hook")
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    Verifier(old).verify(first.body, first.headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(old).verify(retry.body, retry.headers)
    Verifier(new).verify(retry.body, retry.headers)
