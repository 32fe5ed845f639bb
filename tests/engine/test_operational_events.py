"""Operational events end to end: a real receiver fails, the engine records it, and the
tenant's webhooks that subscribe hear about it, signed like any event.

Every delivery gets a single attempt (`retry_schedule = (0,)`), so each 500 is a delivery
that failed for good. An operational event is emitted while an attempt is recorded, and
goes out with the next sweep: each step here runs the engine twice.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from app.services.tenants import get_or_create_tenant
from app.services.webhooks import create_webhook, rotate_secret
from app.storage.models import Event, Webhook
from tests.helpers import emit, make_webhook

PERIOD = 3600


@pytest.fixture
def settings(settings):
    return settings.replace(retry_schedule=(0,), auto_disable_failures=10, auto_disable_period=PERIOD)


def stamp(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def operational(receiver, path: str, type_name: str | None = None) -> list[dict]:
    """The operational events a path got, as the receiver parsed them."""
    events = [json.loads(r.body) for r in receiver.to(path)]
    return [e for e in events if e["type"] != "order.created" and (type_name is None or e["type"] == type_name)]


async def step(settings, clock, engine, emits: int = 1) -> None:
    clock.advance(1)
    for _ in range(emits):
        emit(settings, clock)
    await engine.run()
    await engine.run()  # what the first run's records emitted


def created_long_ago(webhook: Webhook, clock) -> None:
    """Past the quiet period, so the streak alone decides the switch-off. The clock is not
    moved instead: the receivers verify signatures, which want a timestamp near real time."""
    Webhook.update(created_at=clock() - timedelta(seconds=PERIOD)).where(Webhook.id == webhook.id).execute()


@pytest.mark.anyio
async def test_exhausted_goes_to_its_subscribers_only(db, settings, clock, receiver, engine):
    receiver.plan("/dead", 500)
    dead = make_webhook(settings, clock, receiver.url("/dead"), name="Billing", events=["order.*", "delivery.*"])
    ops = make_webhook(settings, clock, receiver.url("/ops"), events=["delivery.*"])
    make_webhook(settings, clock, receiver.url("/everything"), events=["*"])
    make_webhook(settings, clock, receiver.url("/named"), events=["delivery.exhausted"])
    globex = get_or_create_tenant("globex", clock())
    create_webhook(globex, {"url": receiver.url("/other-tenant"), "events": ["delivery.*"]}, settings, clock())
    clock.advance(1)
    event_id = emit(settings, clock).event_id
    await engine.run()
    failed_at = clock()
    await engine.run()

    (request,) = receiver.to("/ops")
    exhausted = Verifier(ops.secret).verify(request.body, request.headers)
    (delivery,) = dead.delivery_set
    assert exhausted["type"] == "delivery.exhausted"
    assert exhausted["data"] == {
        "id": delivery.id, "webhook_id": dead.id, "webhook_name": "Billing", "event_id": event_id,
        "event_type": "order.created", "attempts": 1, "last_error": "HTTP 500", "failed_at": stamp(failed_at),
    }
    assert [e["type"] for e in operational(receiver, "/named")] == ["delivery.exhausted"]
    assert operational(receiver, "/everything") == [], "`*` means the app's events, not Hookline's own"
    assert operational(receiver, "/dead") == [], "not to the failing webhook it is about"
    assert receiver.to("/other-tenant") == [], "not to another tenant"


@pytest.mark.anyio
@pytest.mark.postgres
async def test_failing_at_50_70_and_90_percent_then_disabled(db, settings, clock, receiver, engine):
    receiver.plan("/dead", 500)
    dead = make_webhook(settings, clock, receiver.url("/dead"), name="Billing",
                        events=["order.*", "webhook.failing", "webhook.disabled"])
    watcher = make_webhook(settings, clock, receiver.url("/watch"), events=["webhook.*"])
    created_long_ago(dead, clock)
    clock.advance(1)
    first_failure = clock() + timedelta(seconds=1)
    crossings = {}
    for count in range(1, 11):
        await step(settings, clock, engine)
        if count in (5, 7, 9):
            crossings[count] = stamp(clock())

    failing = [Verifier(watcher.secret).verify(r.body, r.headers) for r in receiver.to("/watch")
               if json.loads(r.body)["type"] == "webhook.failing"]
    assert [e["data"] for e in failing] == [
        {"id": dead.id, "name": "Billing", "url": receiver.url("/dead"), "failures": count, "threshold": 10,
         "rule": "deliveries", "percent": percent, "failing_since": stamp(first_failure), "last_error": "HTTP 500"}
        for count, percent in ((5, 50), (7, 70), (9, 90))
    ]
    assert [e["timestamp"] for e in failing] == list(crossings.values())
    (disabled,) = operational(receiver, "/watch", "webhook.disabled")
    assert disabled["data"]["consecutive_failures"] == 10
    assert Webhook.get_by_id(dead.id).enabled is False
    assert operational(receiver, "/dead") == [], "a failing webhook never gets its own operational events"
    assert len(receiver.to("/dead")) == 10


@pytest.mark.anyio
@pytest.mark.postgres
async def test_recovered_after_a_streak(db, settings, clock, receiver, engine):
    receiver.plan("/flaky", 500, 500, 200)
    flaky = make_webhook(settings, clock, receiver.url("/flaky"), name="Shop", events=["order.*", "webhook.recovered"])
    watcher = make_webhook(settings, clock, receiver.url("/watch"), events=["webhook.recovered"])
    await step(settings, clock, engine)
    failing_since = clock()
    await step(settings, clock, engine)
    assert operational(receiver, "/watch") == []
    await step(settings, clock, engine)
    recovered_at = clock()

    (request,) = receiver.to("/watch")
    event = Verifier(watcher.secret).verify(request.body, request.headers)
    assert event["type"] == "webhook.recovered"
    assert event["data"] == {
        "id": flaky.id, "name": "Shop", "url": receiver.url("/flaky"), "failures": 2,
        "failing_since": stamp(failing_since), "recovered_at": stamp(recovered_at),
    }
    assert [e["type"] for e in operational(receiver, "/flaky")] == ["webhook.recovered"], \
        "healthy again, it hears about itself"
    await step(settings, clock, engine)
    assert len(operational(receiver, "/watch")) == 1, "a success after a success recovers nothing"


@pytest.mark.anyio
async def test_secret_rotated_names_no_secret(db, settings, clock, receiver, engine):
    rotated = make_webhook(settings, clock, receiver.url("/rotated"), name="CRM", events=["webhook.secret_rotated"])
    old_secret = rotated.secret
    new = rotate_secret(rotated.id, None, settings, clock(), grace_seconds=3600)
    await engine.run()

    (request,) = receiver.to("/rotated")
    event = Verifier(new.secret).verify(request.body, request.headers)
    assert event["type"] == "webhook.secret_rotated"
    assert event["data"] == {
        "id": rotated.id, "name": "CRM", "url": receiver.url("/rotated"), "rotated_at": stamp(clock()),
        "previous_secret_expires_at": stamp(clock() + timedelta(seconds=3600)),
    }
    for secret in (old_secret, new.secret):
        assert secret.removeprefix("whsec_") not in request.body.decode()


@pytest.mark.anyio
@pytest.mark.postgres
async def test_two_failing_subscribers_cannot_feed_each_other(db, settings, clock, receiver, engine):
    """A's failure is news for B and B's for A; their failures to take that news are no news."""
    receiver.plan("/a", 500)
    receiver.plan("/b", 500)
    for path in ("/a", "/b"):
        make_webhook(settings, clock, receiver.url(path), events=["*", "delivery.*", "webhook.*"])
    await step(settings, clock, engine)
    for _ in range(3):
        await engine.run()

    assert [e["type"] for e in operational(receiver, "/a")] == ["delivery.exhausted"]
    assert [e["type"] for e in operational(receiver, "/b")] == ["delivery.exhausted"]
    assert sorted(t for (t,) in Event.select(Event.type).tuples()) == ["delivery.exhausted"] * 2 + ["order.created"]
    assert await engine.run() == 0, "nothing left to send"


@pytest.mark.anyio
async def test_no_event_is_stored_for_no_one(db, settings, clock, receiver, engine):
    """A dead receiver's backlog would otherwise add a delivery.exhausted per delivery."""
    receiver.plan("/dead", 500)
    make_webhook(settings, clock, receiver.url("/dead"), events=["*", "delivery.exhausted"])
    make_webhook(settings, clock, receiver.url("/orders"), events=["order.*"])
    for _ in range(3):
        await step(settings, clock, engine)
    assert {t for (t,) in Event.select(Event.type).tuples()} == {"order.created"}


@pytest.mark.anyio
async def test_under_the_attempts_rule_failing_counts_failed_attempts(db, settings, clock, receiver, engine):
    receiver.plan("/flaky", 500)
    flaky = make_webhook(settings, clock, receiver.url("/flaky"), events=["order.*"], retry_schedule=[0] * 8,
                         auto_disable={"rule": "attempts", "failures": 4})
    make_webhook(settings, clock, receiver.url("/watch"), events=["webhook.*"])
    clock.advance(1)
    emit(settings, clock)
    for _ in range(8):
        await engine.run()

    assert len(receiver.to("/flaky")) == 4 and Webhook.get_by_id(flaky.id).enabled is False
    failing = [e["data"] for e in operational(receiver, "/watch", "webhook.failing")]
    assert [(d["failures"], d["threshold"], d["rule"], d["percent"]) for d in failing] == [
        (2, 4, "attempts", 70), (3, 4, "attempts", 90)], "70 % and 50 % both fall on 2 of 4"
    assert [e["type"] for e in operational(receiver, "/watch")] == ["webhook.failing"] * 2 + ["webhook.disabled"]
