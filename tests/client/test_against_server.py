"""The client against a real `hookline serve` subprocess and a real receiver on 127.0.0.1:
signed round trips, typed errors with the server's words, retries across a restart, and a
timeout that strikes after the server committed."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from hookline_client import (
    AsyncHookline, AuthError, Hookline, InvalidEvent, NotFound, PartialBatch, PermissionDenied, RateLimited,
    RetryPolicy, Unreachable,
)
from tests.helpers import ADMIN_KEY, eventually


def verified(receiver_request, secret: str) -> dict:
    """The payload, as the receiver's own standardwebhooks code accepts it."""
    return Verifier(secret).verify(receiver_request.body, receiver_request.headers)


def test_emit_arrives_signed_and_verifies(hookline, receiver):
    hookline.start()
    with Hookline(hookline.url, ADMIN_KEY) as client:
        webhook = client.webhooks.create(receiver.url(), events=["order.*"], name="Orders")
        emitted = client.emit("order.created", {"id": "ord_1", "total": 4990})
        assert emitted.deliveries == 1 and not emitted.replayed and emitted.id.startswith("evt_")
        (request,) = receiver.wait_for(1)
        payload = verified(request, webhook["secret"])
        assert request.headers["webhook-id"] == emitted.id
        assert payload["type"] == "order.created" and payload["data"] == {"id": "ord_1", "total": 4990}

        many = client.emit_many([{"type": "order.paid", "data": {"n": n}} for n in range(3)]
                                + [{"type": "user.signed_up", "data": {}}])
        assert [e.deliveries for e in many] == [1, 1, 1, 0]
        received = receiver.wait_for(4)[1:]
        assert [verified(r, webhook["secret"])["data"] for r in received] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert [r.headers["webhook-id"] for r in received] == [e.id for e in many[:3]]


def test_the_same_idempotency_key_twice_is_one_event(hookline, receiver):
    hookline.start()
    with Hookline(hookline.url, ADMIN_KEY) as client:
        client.webhooks.create(receiver.url())
        first = client.emit("order.created", {"id": 7}, idempotency_key="order-7-created")
        again = client.emit("order.created", {"id": 7}, idempotency_key="order-7-created")
    assert (again.id, again.deliveries, first.replayed, again.replayed) == (first.id, 1, False, True)


def test_errors_are_typed_and_carry_the_servers_message(hookline):
    hookline.start()
    with Hookline(hookline.url, ADMIN_KEY) as client:
        with pytest.raises(InvalidEvent) as unknown:
            client.emit("order.shipped", {})
        assert unknown.value.field == "type" and unknown.value.status == 422
        assert "unknown event type 'order.shipped'" in unknown.value.message
        with pytest.raises(InvalidEvent) as in_batch:
            client.emit_many([{"type": "order.created", "data": {}}, {"type": "nope", "data": {}}])
        assert in_batch.value.field == "events[1].type"
        with pytest.raises(NotFound):
            client.webhooks.get("wh_missing")
        events = [{"type": "order.created", "data": {"n": n}} for n in range(1001)] + [{"type": "nope", "data": {}}]
        with pytest.raises(PartialBatch) as partly:  # 1,000 per request: the second batch fails alone
            client.emit_many(events)
        assert len(partly.value.emitted) == 1000 and partly.value.error.field == "events[1].type"
        assert [e.replayed for e in client.emit_many(events[1000:1001])] == [False]
    with Hookline(hookline.url, "hl_not_a_key_000000000000000000") as stranger, pytest.raises(AuthError) as denied:
        stranger.emit("order.created", {})
    assert denied.value.message == "invalid or revoked API key"


def test_the_resource_wrappers_match_the_api(hookline, receiver):
    hookline.start()
    with Hookline(hookline.url, ADMIN_KEY) as client:
        created = client.webhooks.create(receiver.url(), events=["order.created"], tenant="acme")
        assert created["tenant"] == "acme" and created["secret"].startswith("whsec_")
        assert [w["id"] for w in client.webhooks.list(tenant="acme")] == [created["id"]]
        changed = client.webhooks.update(created["id"], name="Billing", ordered=True)
        assert (changed["name"], changed["ordered"]) == ("Billing", True)
        assert client.webhooks.get(created["id"])["name"] == "Billing"

        tested = client.webhooks.test(created["id"])
        assert tested["attempt"]["response_status"] == 200
        emitted = client.emit("order.created", {"id": 1}, tenant="acme")
        eventually(lambda: len(client.deliveries.list(created["id"], status="succeeded")["data"]) == 2)
        page = client.deliveries.list(created["id"], event_type="order.created")
        (delivery,) = page["data"]
        assert delivery["event_id"] == emitted.id and page["next_cursor"] is None
        detail = client.deliveries.get(delivery["id"])
        assert detail["payload"]["data"] == {"id": 1} and detail["attempt_log"][0]["response_status"] == 200
        assert client.deliveries.resend(delivery["id"])["status"] == "pending"

        client.event_types.update("order.created", example={"id": "ord_1001", "total": 4990})
        assert client.event_types.get("order.created")["example"] == {"id": "ord_1001", "total": 4990}
        assert "order.paid" in [t["name"] for t in client.event_types.list()]
        made = client.event_types.create("invoice.paid", description="Paid in full.", example={"amount": 1})
        assert made["archived_at"] is None
        assert client.event_types.update("invoice.paid", archived=True)["archived_at"] is not None
        assert "invoice.paid" not in [t["name"] for t in client.event_types.list()]

        client.webhooks.delete(created["id"])
        with pytest.raises(NotFound):
            client.webhooks.get(created["id"])
        key = client.webhooks.create(receiver.url(), tenant="acme")  # keeps a webhook for the tenant check below
    with Hookline(hookline.url, tenant_key(hookline)) as tenant_client, pytest.raises(PermissionDenied) as denied:
        tenant_client.event_types.create("refund.issued")
    assert denied.value.status == 403 and key["tenant"] == "acme"


def tenant_key(hookline) -> str:
    from tests.helpers import run_hookline

    made = run_hookline(["create-key", "--tenant", "acme"], hookline.env, hookline.cwd)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.mark.anyio
async def test_async_client_round_trip(hookline, receiver):
    hookline.start()
    async with AsyncHookline(hookline.url, ADMIN_KEY) as client:
        webhook = await client.webhooks.create(receiver.url())
        emitted = await client.emit("order.paid", {"id": "ord_2"})
        (many,) = await client.emit_many([{"type": "order.created", "data": {"n": 1}}])
        with pytest.raises(InvalidEvent) as bad:
            await client.emit("order.created", {"n": "x" * 10}, tenant="Bad Slug")
    assert bad.value.field == "tenant"
    received = receiver.wait_for(2)
    assert [r.headers["webhook-id"] for r in received] == [emitted.id, many.id]
    assert verified(received[0], webhook["secret"])["data"] == {"id": "ord_2"}


def test_an_emit_waits_out_a_restart_and_arrives_once(hookline, receiver):
    """The server is stopped; the client's first attempt is refused, and its (injected)
    sleep before the retry is when the server comes back."""
    hookline.start()
    restarts = []

    def sleep(seconds: float) -> None:
        restarts.append(seconds)
        if len(restarts) == 1:
            hookline.start()

    with Hookline(hookline.url, ADMIN_KEY, sleep=sleep) as client:
        webhook = client.webhooks.create(receiver.url())
        hookline.stop()
        emitted = client.emit("order.created", {"id": "ord_3"})
        assert len(restarts) == 1 and 0.125 <= restarts[0] <= 0.25  # the first backoff of the default policy
        (request,) = receiver.wait_for(1)
        assert request.headers["webhook-id"] == emitted.id and not emitted.replayed
        eventually(lambda: client.deliveries.list(webhook["id"], status="succeeded")["data"])
        assert [d["event_id"] for d in client.deliveries.list(webhook["id"])["data"]] == [emitted.id]


def test_retries_stop_at_the_policys_bound(hookline):
    waits = []
    client = Hookline(hookline.url, ADMIN_KEY, retry=RetryPolicy(max_attempts=3), sleep=waits.append)
    with client, pytest.raises(Unreachable) as refused:
        client.emit("order.created", {})  # never started: connection refused
    assert len(waits) == 2 and refused.value.request_sent is False


def test_a_timeout_after_the_commit_is_retried_into_the_same_event(hookline, receiver, holding_proxy):
    hookline.start()
    with Hookline(hookline.url, ADMIN_KEY) as direct:
        webhook = direct.webhooks.create(receiver.url())
    proxy = holding_proxy()
    with Hookline(proxy.url(), ADMIN_KEY, timeout=0.5, sleep=lambda seconds: None) as client:
        emitted = client.emit("order.created", {"id": "ord_4"})
    first_answer = proxy.answers[0]
    assert first_answer.status_code == 202  # the server had stored the event when the client gave up
    assert emitted.id == first_answer.json()["id"] and emitted.replayed
    assert json.loads(proxy.requests[0]) == json.loads(proxy.requests[1])  # the same key both times
    with Hookline(hookline.url, ADMIN_KEY) as direct:
        eventually(lambda: direct.deliveries.list(webhook["id"], status="succeeded")["data"])
        assert [d["event_id"] for d in direct.deliveries.list(webhook["id"])["data"]] == [emitted.id]
    assert [r.headers["webhook-id"] for r in receiver.requests] == [emitted.id]


def test_a_rate_limited_emit_waits_as_long_as_retry_after_says(hookline):
    hookline.env["HOOKLINE_EMIT_RATE_LIMIT"] = "1/10s"
    hookline.start()
    waits = []
    with Hookline(hookline.url, ADMIN_KEY, retry=RetryPolicy(max_attempts=2, max_elapsed=60),
                  sleep=waits.append) as client:
        client.emit("order.created", {})
        with pytest.raises(RateLimited) as limited:
            client.emit("order.created", {})  # no time passes in the injected sleep: refused again
    assert waits == [limited.value.retry_after] and 1 <= limited.value.retry_after <= 10
    assert "too many events for this API key" in limited.value.message


@pytest.mark.anyio
async def test_the_async_client_retries_within_the_policy_too(hookline):
    waits = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with AsyncHookline(hookline.url, ADMIN_KEY, retry=RetryPolicy(max_attempts=4), sleep=sleep) as client:
        with pytest.raises(Unreachable):
            await client.emit("order.created", {})  # Hookline never started
    assert len(waits) == 3 and waits[0] < waits[2]
