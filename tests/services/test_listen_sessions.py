"""A listen session's life on the injected clock: opened as an ephemeral webhook, its
deliveries claimed only by the hub that holds it, the CLI's report recorded as the
attempt and retried on schedule, ended with its stream or by its lease after a crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.delivery.listen_push import ListenHub, LocalAnswer, renew_session_leases
from app.delivery.queue import claim_due
from app.rules.errors import InvalidInput
from app.services import listen_sessions
from app.services.tenants import named
from app.storage.models import CANCELLED, DELIVERING, FAILED, PENDING, SUCCEEDED, Delivery, Webhook
from tests.helpers import NO_JITTER, emit, make_webhook

pytestmark = pytest.mark.postgres  # the session's claims and leases are SQL of their own: run again by --db=postgres


def open_session(settings, clock, events=("*",), secret=None, tenant="default"):
    return listen_sessions.open_session(named(tenant), list(events), "http://localhost:3000/webhooks", secret,
                                        settings, clock())


def test_a_session_is_a_webhook_that_normal_claims_skip(db, settings, clock):
    opened = open_session(settings, clock, events=["order.*"])
    webhook = opened.webhook
    assert webhook.is_listen_session and webhook.url == "http://localhost:3000/webhooks"
    assert webhook.listen_expires_at == clock() + timedelta(seconds=settings.lease_seconds)
    assert Webhook.get_by_id(webhook.id).secret == opened.secret
    plain = make_webhook(settings, clock, "http://127.0.0.1:9/hook")
    emit(settings, clock)
    claimed = claim_due(clock(), 10, settings.lease_seconds)
    assert [c.webhook_id for c in claimed] == [plain.id]
    assert Delivery.get(Delivery.webhook == webhook.id).status == PENDING


@pytest.mark.parametrize("field, kwargs, phrase", [
    ("events", {"events": []}, "must be 1-50"),
    ("events", {"events": ["order..created"]}, "is not an event type"),
    ("forward_to", {"forward_to": "ftp://localhost/x"}, "http:// or https://"),
    ("forward_to", {"forward_to": "http://"}, "http:// or https://"),
    ("secret", {"secret": "not-a-secret"}, "whsec_"),
    ("secret", {"secret": "whsec_c2hvcnQ="}, "32 bytes"),
])
def test_bad_session_input_names_the_field(db, settings, clock, field, kwargs, phrase):
    values = {"events": ["*"], "forward_to": "http://localhost:3000/webhooks", "secret": None, **kwargs}
    with pytest.raises(InvalidInput) as refused:
        listen_sessions.open_session(named("default"), values["events"], values["forward_to"], values["secret"],
                                     settings, clock())
    assert refused.value.field == field and phrase in refused.value.message


def test_a_reconnecting_cli_keeps_its_secret(db, settings, clock):
    first = open_session(settings, clock)
    listen_sessions.close_session(first.webhook.id, clock())
    again = open_session(settings, clock, secret=first.secret)
    assert again.secret == first.secret and again.webhook.id != first.webhook.id


def test_closing_removes_the_webhook_and_cancels_what_it_had_to_send(db, settings, clock):
    webhook = open_session(settings, clock).webhook
    emit(settings, clock)
    emit(settings, clock)
    assert listen_sessions.close_session(webhook.id, clock()) == 2
    assert Webhook.get_by_id(webhook.id).deleted_at == clock()
    assert {(d.status, d.last_error) for d in Delivery.select()} == {(CANCELLED, listen_sessions.ENDED)}


def test_a_session_whose_lease_ran_out_ends_and_a_renewed_one_lives(db, settings, clock):
    lost = open_session(settings, clock).webhook
    kept = open_session(settings, clock).webhook
    emit(settings, clock)
    clock.advance(settings.lease_seconds / 2)
    assert renew_session_leases([kept.id], clock(), settings.lease_seconds) == 1
    clock.advance(settings.lease_seconds / 2)
    assert listen_sessions.end_expired(clock()) == 1
    assert Webhook.get_by_id(lost.id).deleted_at == clock() and Webhook.get_by_id(kept.id).deleted_at is None
    assert Delivery.get(Delivery.webhook == lost.id).status == CANCELLED
    assert Delivery.get(Delivery.webhook == kept.id).status == PENDING


# The hub, on the event loop: pushes go to the session's outbox, reports come back by hand.

@pytest.fixture
def hub(settings, clock):
    return ListenHub(settings.replace(retry_schedule=(0, 5, 3600)), clock, listen_sessions.end_expired,
                     random=NO_JITTER)


async def pushed(session):
    return await session.outbox.get()


@pytest.mark.anyio
async def test_the_report_is_the_attempt_and_a_500_is_retried_on_schedule(db, settings, clock, hub):
    webhook = open_session(settings, clock).webhook
    session = hub.attach(webhook.id, webhook.tenant_id)
    event_id = emit(settings, clock).event_id
    hub.wake()
    push = await pushed(session)
    assert (push["event_id"], push["attempt"]) == (event_id, 1)
    assert push["headers"]["webhook-id"] == event_id and push["timeout"] == pytest.approx(settings.request_timeout * 0.8)
    assert hub.answer(webhook.id, webhook.tenant_id, push["delivery_id"], LocalAnswer(500, 12, "boom"))
    await hub.drain()
    delivery = Delivery.get_by_id(push["delivery_id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (PENDING, 1, 500)
    assert delivery.next_attempt_at == clock() + timedelta(seconds=5)

    await hub.tick()  # not due yet
    assert session.outbox.empty()
    clock.advance(5)
    await hub.tick()
    retry = await pushed(session)
    assert (retry["delivery_id"], retry["attempt"]) == (push["delivery_id"], 2)
    assert hub.answer(webhook.id, webhook.tenant_id, retry["delivery_id"], LocalAnswer(200, 3))
    await hub.drain()
    assert Delivery.get_by_id(push["delivery_id"]).status == SUCCEEDED


@pytest.mark.anyio
async def test_a_report_is_taken_only_from_the_sessions_tenant_and_once(db, settings, clock, hub):
    webhook = open_session(settings, clock).webhook
    session = hub.attach(webhook.id, webhook.tenant_id)
    emit(settings, clock)
    hub.wake()
    push = await pushed(session)
    other = open_session(settings, clock, tenant="globex").webhook.tenant_id
    assert not hub.answer(webhook.id, other, push["delivery_id"], LocalAnswer(200, 1))
    assert hub.answer(webhook.id, None, push["delivery_id"], LocalAnswer(None, 4, error="connection refused"))
    assert not hub.answer(webhook.id, None, push["delivery_id"], LocalAnswer(200, 1))
    await hub.drain()
    delivery = Delivery.get_by_id(push["delivery_id"])
    assert (delivery.status, delivery.last_error) == (PENDING, "local: connection refused")


@pytest.mark.anyio
async def test_a_push_without_a_report_times_out_as_a_failed_attempt(db, settings, clock):
    quick = ListenHub(settings.replace(request_timeout=0.05, retry_schedule=(0,)), clock, listen_sessions.end_expired)
    webhook = open_session(settings, clock).webhook
    session = quick.attach(webhook.id, webhook.tenant_id)
    emit(settings, clock)
    quick.wake()
    push = await pushed(session)
    await quick.drain()
    delivery = Delivery.get_by_id(push["delivery_id"])
    assert (delivery.status, delivery.last_error) == (FAILED, "the listen session reported no answer within 0.05s")


@pytest.mark.anyio
async def test_a_detached_session_leaves_its_push_to_the_close(db, settings, clock, hub):
    webhook = open_session(settings, clock).webhook
    session = hub.attach(webhook.id, webhook.tenant_id)
    emit(settings, clock)
    hub.wake()
    push = await pushed(session)
    hub.detach(session)
    await hub.drain()
    assert Delivery.get_by_id(push["delivery_id"]).status == DELIVERING  # not recorded: the close cancels it
    listen_sessions.close_session(webhook.id, clock())
    assert Delivery.get_by_id(push["delivery_id"]).status == CANCELLED


@pytest.mark.anyio
async def test_the_hub_renews_its_sessions_and_ends_those_of_a_dead_process(db, settings, clock, hub):
    held = open_session(settings, clock).webhook
    orphan = open_session(settings, clock).webhook  # its process died: nobody renews it
    hub.attach(held.id, held.tenant_id)
    await hub.tick()
    for _ in range(4):
        clock.advance(settings.lease_seconds / 3)
        await hub.tick()
    assert Webhook.get_by_id(orphan.id).deleted_at is not None
    assert Webhook.get_by_id(held.id).deleted_at is None
    assert Webhook.get_by_id(held.id).listen_expires_at > clock()

