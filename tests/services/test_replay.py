"""Resend, recover and replay over the JSON API, against a real receiver.

The API runs without its own sender; each test drives a Dispatcher on the same database
with the fake clock, so what the receiver counts is exactly what was sent.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.rules.errors import InvalidInput
from app.services.replay import parse_since
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery
from tests.helpers import ADMIN, create_webhook

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sender(api, make_engine):
    return await make_engine()


def emit(api, type_name="order.created", key=ADMIN) -> str:
    response = api.post("/api/v1/events", json={"type": type_name, "data": {"n": 1}}, headers=key)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def ids_at(receiver, path="/hook") -> list[str]:
    return [r.headers["webhook-id"] for r in receiver.to(path)]


def delivery_of(event_id: str, webhook_id: str) -> Delivery:
    return Delivery.get((Delivery.event == event_id) & (Delivery.webhook == webhook_id))


async def test_resend_replaces_a_scheduled_retry_one_row_one_request(api, sender, receiver, clock):
    receiver.plan("/hook", 500, 200)
    webhook = create_webhook(api, url=receiver.url())
    event_id = emit(api)
    await sender.run()
    delivery = delivery_of(event_id, webhook["id"])
    assert delivery.status == PENDING and delivery.next_attempt_at > clock()

    response = api.post(f"/api/v1/deliveries/{delivery.id}/resend", headers=ADMIN)
    assert response.status_code == 202 and response.json()["status"] == PENDING
    assert await sender.run() == 1
    clock.advance(3600)
    assert await sender.run() == 0, "the scheduled retry was replaced, not added"
    assert ids_at(receiver) == [event_id, event_id]
    assert Delivery.select().count() == 1 and delivery_of(event_id, webhook["id"]).status == SUCCEEDED


async def test_resend_while_an_attempt_is_in_flight_is_409(api, receiver):
    webhook = create_webhook(api, url=receiver.url())
    event_id = emit(api)
    delivery = delivery_of(event_id, webhook["id"])
    Delivery.update(status=DELIVERING).execute()
    response = api.post(f"/api/v1/deliveries/{delivery.id}/resend", headers=ADMIN)
    assert response.status_code == 409
    assert "being sent right now" in response.json()["error"]["message"]
    assert Delivery.get_by_id(delivery.id).status == DELIVERING


async def test_recover_resends_exactly_the_failed_ones_since(api, sender, receiver, clock):
    receiver.plan("/hook", 400, 400, 400, 200)  # old, then two recent failures; the rest succeed
    receiver.plan("/other", 400, 200)
    webhook = create_webhook(api, url=receiver.url(), events=["order.*"])
    create_webhook(api, url=receiver.url("/other"), events=["user.*"])
    old = emit(api)
    await sender.run()
    clock.advance(3600)
    since = clock()
    recent = [emit(api), emit(api)]
    await sender.run()
    clock.advance(1)
    succeeded = emit(api)
    emit(api, "user.signed_up")  # another webhook's failure, in the window
    await sender.run()
    assert [delivery_of(e, webhook["id"]).status for e in (old, *recent, succeeded)] == [FAILED, FAILED, FAILED, SUCCEEDED]
    before = len(receiver.to("/hook"))

    response = api.post(f"/api/v1/webhooks/{webhook['id']}/recover", json={"since": since.isoformat()}, headers=ADMIN)
    assert response.status_code == 202, response.text
    recovery = response.json()
    assert recovery["total"] == 2 and recovery["id"].startswith("rcv_")
    assert response.headers["location"] == f"/api/v1/recoveries/{recovery['id']}"
    progress = api.get(f"/api/v1/recoveries/{recovery['id']}", headers=ADMIN).json()
    assert (progress["total"], progress["succeeded"], progress["failed"], progress["pending"], progress["done"]) == (2, 0, 0, 2, False)

    assert await sender.run() == 2
    assert sorted(ids_at(receiver)[before:]) == sorted(recent), "only the failed ones since T, once each"
    assert len(receiver.to("/other")) == 1
    progress = api.get(f"/api/v1/recoveries/{recovery['id']}", headers=ADMIN).json()
    assert (progress["succeeded"], progress["failed"], progress["pending"], progress["done"]) == (2, 0, 0, True)
    assert progress["since"] == since.isoformat().replace("+00:00", "Z") and progress["webhook_id"] == webhook["id"]
    assert delivery_of(old, webhook["id"]).status == FAILED
    assert [a.number for a in Attempt.select().where(Attempt.delivery == delivery_of(recent[0], webhook["id"]).id)
            .order_by(Attempt.number)] == [1, 2], "attempt numbers go on"


async def test_progress_counts_failures_and_waiting_retries(api, sender, receiver, clock):
    receiver.plan("/hook", 400, 400, 400, 200, 404, 500)
    webhook = create_webhook(api, url=receiver.url())
    for _ in range(3):
        emit(api)
    await sender.run()
    response = api.post(f"/api/v1/webhooks/{webhook['id']}/recover", json={"since": (clock() - timedelta(hours=1)).isoformat()},
                        headers=ADMIN)
    assert response.json()["total"] == 3
    await sender.run()
    progress = api.get(f"/api/v1/recoveries/{response.json()['id']}", headers=ADMIN).json()
    assert (progress["succeeded"], progress["failed"], progress["pending"], progress["done"]) == (1, 1, 1, False)


async def test_a_recovered_dead_letter_gets_its_whole_schedule_again(api, settings, receiver, clock, make_engine):
    settings = settings.replace(retry_schedule=(0, 5))
    receiver.plan("/hook", 500, 500, 500, 200)
    webhook = create_webhook(api, url=receiver.url())
    event_id = emit(api)
    engine = await make_engine(settings)
    await engine.run()
    clock.advance(5)
    await engine.run()
    assert (delivery_of(event_id, webhook["id"]).status, delivery_of(event_id, webhook["id"]).attempts) == (FAILED, 2)

    api.post(f"/api/v1/webhooks/{webhook['id']}/recover", json={"since": "2000-01-01T00:00:00Z"}, headers=ADMIN)
    await engine.run()
    delivery = delivery_of(event_id, webhook["id"])
    assert (delivery.status, delivery.attempts) == (PENDING, 3), "a failure after recovery is retried, not dead at once"
    assert delivery.next_attempt_at == clock() + timedelta(seconds=5)
    clock.advance(5)
    await engine.run()
    delivery = delivery_of(event_id, webhook["id"])
    assert (delivery.status, delivery.attempts) == (SUCCEEDED, 4)
    assert ids_at(receiver) == [event_id] * 4


async def test_recover_input_errors_and_tenant_isolation(api, tenant_key, other_tenant_key, clock):
    webhook = create_webhook(api, key=tenant_key)
    url = f"/api/v1/webhooks/{webhook['id']}/recover"
    for body, field in [({}, "since"), ({"since": "yesterday"}, "since"), ({"since": 5}, "since"),
                        ({"since": (clock() + timedelta(hours=1)).isoformat()}, "since"), ({"since": "2026-01-01", "x": 1}, "x")]:
        response = api.post(url, json=body, headers=tenant_key)
        assert response.status_code == 422 and response.json()["error"]["field"] == field, body
    assert api.post(url, json={"since": "2000-01-01T00:00:00Z"}, headers=other_tenant_key).status_code == 404
    created = api.post(url, json={"since": "2000-01-01T00:00:00Z"}, headers=tenant_key)
    assert created.status_code == 202 and created.json()["total"] == 0
    progress_url = f"/api/v1/recoveries/{created.json()['id']}"
    assert api.get(progress_url, headers=other_tenant_key).status_code == 404
    assert api.get(progress_url, headers=tenant_key).json()["done"] is True
    assert api.get("/api/v1/recoveries/rcv_nope", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01-31T09:00:00Z", "2026-01-31T09:00:00+00:00"), ("2026-01-31T10:00+01:00", "2026-01-31T09:00:00+00:00"),
     ("2026-01-31T09:00", "2026-01-31T09:00:00+00:00"), ("2026-01-31", "2026-01-31T00:00:00+00:00")],
)
def test_parse_since_reads_utc_without_an_offset(text, expected, clock):
    assert parse_since(text, clock()).isoformat() == expected


async def test_replay_an_event_to_a_webhook_created_after_it(api, sender, receiver):
    first = create_webhook(api, url=receiver.url(), events=["order.created"])
    event_id = emit(api)
    later = create_webhook(api, url=receiver.url("/later"), events=["user.signed_up"])
    await sender.run()
    assert ids_at(receiver, "/later") == []

    response = api.post(f"/api/v1/events/{event_id}/replay", json={"webhook_id": later["id"]}, headers=ADMIN)
    assert response.status_code == 202, response.text
    replayed = response.json()
    assert (replayed["webhook_id"], replayed["event_id"], replayed["status"]) == (later["id"], event_id, PENDING)
    await sender.run()
    assert ids_at(receiver, "/later") == [event_id], "same event id, same webhook-id header"

    again = api.post(f"/api/v1/events/{event_id}/replay", json={"webhook_id": later["id"]}, headers=ADMIN).json()
    assert again["id"] == replayed["id"], "the (event, webhook) pair has one delivery: it is resent"
    await sender.run()
    assert ids_at(receiver, "/later") == [event_id, event_id] and ids_at(receiver) == [event_id]

    event = api.get(f"/api/v1/events/{event_id}", headers=ADMIN).json()
    assert (event["id"], event["type"], event["data"]) == (event_id, "order.created", {"n": 1})
    assert event["created_at"].endswith("Z")
    assert [(d["webhook_id"], d["status"], d["attempts"]) for d in event["deliveries"]] == [
        (first["id"], SUCCEEDED, 1), (later["id"], SUCCEEDED, 2)]


async def test_replay_refusals(api, tenant_key, other_tenant_key):
    mine = create_webhook(api, key=tenant_key)
    theirs = create_webhook(api, key=other_tenant_key)
    event_id = emit(api, key=tenant_key)
    url = f"/api/v1/events/{event_id}/replay"
    for body, field in [({}, "webhook_id"), ({"webhook_id": 7}, "webhook_id"), ({"webhook_id": "wh_nope"}, "webhook_id"),
                        ({"webhook_id": theirs["id"]}, "webhook_id"), ({"webhook_id": mine["id"], "x": 1}, "x")]:
        response = api.post(url, json=body, headers=ADMIN if body.get("webhook_id") == theirs["id"] else tenant_key)
        assert response.status_code == 422 and response.json()["error"]["field"] == field, body
    assert api.post(url, json={"webhook_id": theirs["id"]}, headers=other_tenant_key).status_code == 404
    assert api.get(f"/api/v1/events/{event_id}", headers=other_tenant_key).status_code == 404
    assert api.get(f"/api/v1/events/{event_id}", headers=tenant_key).status_code == 200
    Delivery.update(status=DELIVERING).execute()
    busy = api.post(url, json={"webhook_id": mine["id"]}, headers=tenant_key)
    assert busy.status_code == 409 and "being sent right now" in busy.json()["error"]["message"]


def test_parse_since_refuses_the_future(clock):
    with pytest.raises(InvalidInput, match="future"):
        parse_since((clock() + timedelta(minutes=1)).isoformat(), clock())


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00"])
def test_parse_since_refuses_what_is_not_a_time(text, clock):
    """Found by schemathesis: an offset that pushes day one out of range was a 500."""
    with pytest.raises(InvalidInput, match="since"):
        parse_since(text, clock())
