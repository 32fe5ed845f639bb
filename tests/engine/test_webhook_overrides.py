"""Per-webhook timeout and retry schedule, honoured by the engine next to the global ones.
Validation, API and forms for these columns live elsewhere; here they are set on the model."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.storage.models import FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Webhook
from tests.helpers import Reply, emit, make_webhook

pytestmark = pytest.mark.anyio


def override(webhook: Webhook, **columns) -> None:
    Webhook.update(**columns).where(Webhook.id == webhook.id).execute()


def delivery_of(webhook: Webhook) -> Delivery:
    return Delivery.get(Delivery.webhook == webhook.id)


async def test_a_webhook_timeout_cuts_its_attempts_only(db, settings, clock, receiver, engine):
    assert settings.request_timeout == 2
    receiver.plan("/slow", Reply(200, delay=3))
    receiver.plan("/steady", Reply(200, delay=0.5))
    slow = make_webhook(settings, clock, receiver.url("/slow"))
    steady = make_webhook(settings, clock, receiver.url("/steady"))
    override(slow, timeout=0.3)
    emit(settings, clock)
    assert await engine.run() == 2

    assert (delivery_of(slow).status, delivery_of(slow).last_error) == (PENDING, "timed out after 0.3s")
    assert Attempt.get(Attempt.delivery == delivery_of(slow).id).error == "timed out after 0.3s"
    assert delivery_of(steady).status == SUCCEEDED, "the global timeout still applies to the others"


async def test_a_webhook_timeout_may_be_longer_than_the_global_one(db, settings, clock, receiver, make_engine):
    settings = settings.replace(request_timeout=0.3)
    receiver.plan("/hook", Reply(200, delay=0.6))
    patient = make_webhook(settings, clock, receiver.url())
    override(patient, timeout=5)
    emit(settings, clock)
    engine = await make_engine(settings)
    await engine.run()
    assert delivery_of(patient).status == SUCCEEDED


async def test_a_two_entry_schedule_dead_letters_after_two_attempts(db, settings, clock, receiver, engine):
    receiver.plan("/short", 500)
    receiver.plan("/global", 500)
    short = make_webhook(settings, clock, receiver.url("/short"))
    default = make_webhook(settings, clock, receiver.url("/global"))
    override(short, retry_schedule=[0, 30])
    emit(settings, clock)

    assert await engine.run() == 2
    assert delivery_of(short).next_attempt_at == clock() + timedelta(seconds=30)
    assert delivery_of(default).next_attempt_at == clock() + timedelta(seconds=settings.retry_schedule[1])
    clock.advance(30 - 0.1)
    assert await engine.run() == 1, "only the global schedule's 5 s retry is due"
    clock.advance(0.1)
    assert await engine.run() == 1
    clock.advance(86400)
    await engine.run()

    short_delivery = delivery_of(short)
    assert (short_delivery.status, short_delivery.attempts, short_delivery.next_attempt_at) == (FAILED, 2, None)
    assert len(receiver.to("/short")) == 2
    assert delivery_of(default).attempts > 2, "other webhooks keep the global schedule"
