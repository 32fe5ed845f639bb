"""The delivery engine against a real receiver: retries, dead letters, leases, limits.

The dispatcher is driven directly with a fake clock: each `run()` sweeps what is due at
the clock's time and waits for the sends to finish, so retry timing needs no sleeping.
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from app.delivery.queue import claim_due, record_results
from app.services.deliveries import resend_delivery
from app.services.webhooks import update_webhook
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Webhook
from tests.helpers import NO_JITTER, Reply, emit, make_webhook, only_delivery

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_retries_on_schedule_until_success_with_identical_bytes(db, settings, clock, receiver, engine):
    receiver.plan("/hook", 500, 503, 200)
    make_webhook(settings, clock, receiver.url())
    emitted = emit(settings, clock)

    assert await engine.run() == 1
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (PENDING, 1, 500)
    assert delivery.next_attempt_at == clock() + timedelta(seconds=5)

    clock.advance(4.9)
    assert await engine.run() == 0, "a retry must not go out before its time"
    clock.advance(0.1)
    assert await engine.run() == 1
    assert only_delivery().next_attempt_at == clock() + timedelta(seconds=300)

    clock.advance(300)
    await engine.run()
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (SUCCEEDED, 3, 200)

    requests = receiver.to("/hook")
    assert len(requests) == 3
    assert len({r.body for r in requests}) == 1, "every retry sends the same bytes"
    assert {r.headers["webhook-id"] for r in requests} == {emitted.event_id}
    assert [a.response_status for a in Attempt.select().order_by(Attempt.number)] == [500, 503, 200]


async def test_first_schedule_entry_delays_the_first_attempt(db, settings, clock, receiver, make_engine):
    settings = settings.replace(retry_schedule=(10, 5))
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    engine = await make_engine(settings)
    assert await engine.run() == 0
    clock.advance(10)
    assert await engine.run() == 1


async def test_dead_letter_after_last_scheduled_attempt(db, settings, clock, receiver, make_engine):
    settings = settings.replace(retry_schedule=(0, 5, 10))
    receiver.plan("/hook", 500)
    webhook = make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    engine = await make_engine(settings)
    for wait in (0, 5, 10):
        clock.advance(wait)
        assert await engine.run() == 1
    clock.advance(3600)
    assert await engine.run() == 0, "no attempt after the schedule is used up"

    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (FAILED, 3, None)
    assert len(receiver.to("/hook")) == 3
    assert Webhook.get_by_id(webhook.id).consecutive_failures == 1


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_fail_without_retry(db, settings, clock, receiver, engine, status):
    receiver.plan("/hook", status)
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    clock.advance(86400)
    assert await engine.run() == 0
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (FAILED, 1, status)


async def test_gone_fails_and_disables_the_webhook(db, settings, clock, receiver, engine):
    receiver.plan("/hook", 410)
    webhook = make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()

    assert only_delivery().status == FAILED
    webhook = Webhook.get_by_id(webhook.id)
    assert webhook.enabled is False
    assert "410 Gone" in webhook.disabled_reason
    assert emit(settings, clock).deliveries == 0, "a disabled webhook gets no new deliveries"


async def test_redirect_is_not_followed(db, settings, clock, receiver, engine):
    receiver.plan("/hook", Reply(302, headers={"Location": receiver.url("/elsewhere")}))
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    assert only_delivery().status == FAILED
    assert receiver.to("/elsewhere") == []


async def test_retry_after_is_honoured(db, settings, clock, receiver, engine):
    receiver.plan("/hook", Reply(429, headers={"Retry-After": "120"}), 200)
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    assert only_delivery().next_attempt_at == clock() + timedelta(seconds=120)


async def test_timeout_is_a_retryable_attempt_with_a_clear_error(db, settings, clock, receiver, make_engine):
    settings = settings.replace(request_timeout=0.3)
    receiver.plan("/hook", Reply(200, delay=3))
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    engine = await make_engine(settings)
    await engine.run()
    delivery = only_delivery()
    assert (delivery.status, delivery.last_status_code) == (PENDING, None)
    assert delivery.last_error == "timed out after 0.3s"
    assert Attempt.get().error == "timed out after 0.3s"


async def test_connection_refused_is_logged(db, settings, clock, engine):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    make_webhook(settings, clock, f"http://127.0.0.1:{port}/hook")
    emit(settings, clock)
    await engine.run()
    delivery = only_delivery()
    assert (delivery.status, delivery.last_error) == (PENDING, "connection refused")


async def test_attempt_log_keeps_headers_and_a_response_prefix(db, settings, clock, receiver, engine):
    answer_delay = 0.05
    receiver.plan("/hook", Reply(500, delay=answer_delay, body=b"x" * 5000))
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    attempt = Attempt.get()
    assert attempt.response_body == "x" * (1000 - len("… [truncated]")) + "… [truncated]"
    assert attempt.request_headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    assert attempt.request_headers["User-Agent"].startswith("Hookline/")
    # The log shows how long the receiver took: at least its delay, and inside the timeout.
    assert answer_delay * 1000 <= attempt.duration_ms < settings.request_timeout * 1000


async def test_disabled_webhook_deliveries_wait_then_go_out(db, settings, clock, receiver, engine):
    webhook = make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    update_webhook(webhook.id, None, {"enabled": False}, settings, clock())
    assert await engine.run() == 0
    assert only_delivery().status == PENDING

    update_webhook(webhook.id, None, {"enabled": True}, settings, clock())
    assert await engine.run() == 1
    assert only_delivery().status == SUCCEEDED


async def test_expired_lease_is_claimed_again(db, settings, clock, receiver, engine):
    """A process that died mid-send leaves its claim; after the lease it is sent anyway."""
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    assert len(claim_due(clock(), 10, settings.lease_seconds)) == 1  # the "crashed" claimer
    assert await engine.run() == 0
    assert only_delivery().status == DELIVERING

    clock.advance(settings.lease_seconds)
    assert await engine.run() == 1
    assert only_delivery().status == SUCCEEDED
    assert len(receiver.requests) == 1


async def test_stale_claim_cannot_overwrite_the_new_one(db, settings, clock, receiver, engine):
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    dispatcher = engine.dispatcher
    (stale,) = claim_due(clock(), 10, settings.lease_seconds)
    clock.advance(settings.lease_seconds)
    (fresh,) = claim_due(clock(), 10, settings.lease_seconds)
    receiver.plan("/hook", 500, 200)
    stale_result = await dispatcher.send(stale)
    fresh_result = await dispatcher.send(fresh)
    assert record_results([(stale, stale_result)], clock(), settings, NO_JITTER) == [PENDING]
    assert only_delivery().status == DELIVERING, "the stale holder must not move the row"
    record_results([(fresh, fresh_result)], clock(), settings, NO_JITTER)
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == (SUCCEEDED, 1)
    assert Attempt.select().count() == 2, "both attempts stay in the log"


async def test_webhook_deleted_mid_send_is_not_an_error(db, settings, clock, receiver, engine):
    webhook = make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    dispatcher = engine.dispatcher
    (claimed,) = claim_due(clock(), 10, settings.lease_seconds)
    result = await dispatcher.send(claimed)
    Webhook.get_by_id(webhook.id).delete_instance()
    record_results([(claimed, result)], clock(), settings, NO_JITTER)
    assert (Delivery.select().count(), Attempt.select().count()) == (0, 0)


async def test_concurrency_is_bounded(db, settings, clock, receiver, make_engine):
    settings = settings.replace(max_concurrency=2)
    receiver.plan("/hook", Reply(200, delay=0.2))
    make_webhook(settings, clock, receiver.url())
    for _ in range(6):
        emit(settings, clock)
    dispatcher = (await make_engine(settings)).dispatcher
    assert await dispatcher.sweep() == 2
    await dispatcher.drain(timeout=10)  # finished sends wake further sweeps
    assert Delivery.select().where(Delivery.status == SUCCEEDED).count() == 6
    assert receiver.max_in_flight == 2


async def test_resend_sends_again_with_the_same_webhook_id(db, settings, clock, receiver, engine):
    make_webhook(settings, clock, receiver.url())
    emitted = emit(settings, clock)
    await engine.run()
    delivery = resend_delivery(only_delivery().id, None, clock())
    assert delivery.status == PENDING
    assert await engine.run() == 1
    assert [r.headers["webhook-id"] for r in receiver.requests] == [emitted.event_id] * 2
    assert only_delivery().attempts == 2


async def test_resend_replaces_a_scheduled_retry(db, settings, clock, receiver, engine):
    receiver.plan("/hook", 500, 200)
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    resend_delivery(only_delivery().id, None, clock())
    assert await engine.run() == 1
    clock.advance(3600)
    assert await engine.run() == 0, "the scheduled retry was replaced, not added"
    assert len(receiver.requests) == 2
    assert only_delivery().status == SUCCEEDED


async def test_custom_headers_are_sent_but_cannot_replace_signatures(db, settings, clock, receiver, engine):
    make_webhook(settings, clock, receiver.url(), headers={"Authorization": "Bearer abc"})
    emit(settings, clock)
    await engine.run()
    (request,) = receiver.requests
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::ffff:127.0.0.1]", "0x7f.0.0.1"])
async def test_private_destinations_are_refused_at_send_time(db, settings, clock, receiver, host, make_engine):
    """Saved while allowed (or DNS changed since): the send itself refuses, and says why."""
    make_webhook(settings.replace(allow_private_networks=("127.0.0.0/8", "::1/128")), clock, f"http://{host}:{receiver.port}/hook")
    emit(settings, clock)
    strict = settings.replace(allow_private_networks=())
    engine = await make_engine(strict)
    await engine.run()
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == (FAILED, 1), "a blocked destination is not retried"
    assert delivery.last_error.startswith("blocked: ") and "private or reserved" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.parametrize("host", ["127.1", "2130706433"])  # legacy IPv4 spellings
async def test_urls_the_client_cannot_use_fail_without_retry(db, settings, clock, receiver, host, engine):
    make_webhook(settings, clock, f"http://{host}:{receiver.port}/hook")
    emit(settings, clock)
    await engine.run()
    delivery = only_delivery()
    assert (delivery.status, delivery.attempts) == (FAILED, 1)
    assert delivery.last_error.startswith("invalid URL: ") and receiver.requests == []


async def test_allowlisted_host_names_are_delivered(db, settings, clock, receiver, make_engine):
    settings = settings.replace(allow_private_networks=("127.0.0.0/8", "::1/128"))
    make_webhook(settings, clock, f"http://localhost:{receiver.port}/hook")
    emit(settings, clock)
    engine = await make_engine(settings)
    await engine.run()
    assert only_delivery().status == SUCCEEDED
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


async def test_fan_out_follows_subscriptions(db, settings, clock, receiver, engine):
    make_webhook(settings, clock, receiver.url("/all"), events=["*"])
    make_webhook(settings, clock, receiver.url("/orders"), events=["order.*"])
    make_webhook(settings, clock, receiver.url("/paid"), events=["order.paid"])
    assert emit(settings, clock, "order.created").deliveries == 2
    assert emit(settings, clock, "user.signed_up").deliveries == 1
    await engine.run()
    assert [len(receiver.to(p)) for p in ("/all", "/orders", "/paid")] == [2, 1, 0]
