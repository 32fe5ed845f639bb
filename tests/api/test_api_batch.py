"""POST /api/v1/events/batch: many events, one transaction, errors that name the item."""

from __future__ import annotations

import pytest

from app.storage.models import Delivery, Event
from tests.helpers import ADMIN, create_webhook, serving


def emit_batch(api, items, key=ADMIN):
    return api.post("/api/v1/events/batch", json={"events": items}, headers=key)


def test_batch_stores_every_event_with_its_fan_out_and_lists_ids_in_order(api):
    create_webhook(api, events=["order.*"])
    create_webhook(api, events=["*"])
    response = emit_batch(api, [
        {"type": "order.created", "data": {"n": 1}},
        {"event": "user.signed_up", "data": [1, 2]},
        {"type": "order.paid"},
    ])
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert [item["deliveries"] for item in data] == [2, 1, 2]
    stored = [Event.get_by_id(item["id"]) for item in data]
    assert [(e.type, e.data) for e in stored] == [("order.created", '{"n":1}'), ("user.signed_up", "[1,2]"), ("order.paid", "{}")]
    assert Delivery.select().count() == 5


def test_an_idempotency_key_replays_across_and_within_batches(api):
    create_webhook(api)
    first = emit_batch(api, [{"type": "order.paid", "idempotency_key": "k1"}]).json()["data"][0]
    again = emit_batch(api, [{"type": "order.paid", "idempotency_key": "k1"}, {"type": "order.paid", "idempotency_key": "k1"}])
    assert again.json()["data"] == [{**first, "replayed": True}, {**first, "replayed": True}]
    assert (Event.select().count(), Delivery.select().count()) == (1, 1)


@pytest.mark.parametrize(
    "items, field, phrase",
    [
        ([{"type": "order.paid"}, {"type": "nope.unknown"}], "events[1].type", "unknown event type"),
        ([{"type": "order.paid"}, {"data": {}}], "events[1].type", "required"),
        ([{"type": "order.paid", "colour": "red"}], "events[0].colour", "unknown field"),
        ([{"type": "order.paid", "event": "order.created"}], "events[0].event", "alias"),
        ([{"type": "order.paid"}, {"type": "order.paid", "idempotency_key": ""}], "events[1].idempotency_key", "must be"),
        ([{"type": "order.paid"}, "order.paid"], "events[1].type", "must be an object"),
        ([{"type": "order.paid", "tenant": "Not A Slug"}], "events[0].tenant", "must be"),
        ([], "events", "a list of 1 to 1000"),
        ({"type": "order.paid"}, "events", "a list of 1 to 1000"),
    ],
)
def test_a_bad_item_is_named_by_index_and_nothing_of_the_batch_is_stored(api, items, field, phrase):
    create_webhook(api)
    response = emit_batch(api, items)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert phrase in error["message"]
    assert (Event.select().count(), Delivery.select().count()) == (0, 0)


def test_more_than_1000_events_is_413(api):
    response = emit_batch(api, [{"type": "order.paid"}] * 1001)
    assert response.status_code == 413
    assert response.json()["error"] == {"message": "events: 1001 events; at most 1000 per request", "field": "events"}
    assert Event.select().count() == 0


def test_one_event_over_the_single_event_limit_is_413_naming_it(api, settings):
    response = emit_batch(api, [{"type": "order.paid"}, {"type": "order.paid", "data": "x" * settings.max_payload_bytes}])
    assert response.status_code == 413
    assert response.json()["error"]["field"] == "events[1].data"
    assert Event.select().count() == 0


def test_a_tenant_key_cannot_batch_for_another_tenant(api, tenant_key):
    response = emit_batch(api, [{"type": "order.paid"}, {"type": "order.paid", "tenant": "globex"}], key=tenant_key)
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "events[1].tenant"
    assert Event.select().count() == 0


def test_batched_events_are_delivered(settings, clock, receiver):
    with serving(settings, clock, run_sender=True) as api:
        create_webhook(api, url=receiver.url("/hook"))
        ids = [item["id"] for item in emit_batch(api, [{"type": "order.paid", "data": {"n": n}} for n in range(3)]).json()["data"]]
        received = receiver.wait_for(3)
    assert sorted(r.headers["webhook-id"] for r in received) == sorted(ids)


@pytest.mark.parametrize(
    "data, field, phrase",
    [
        (b'{"x": 1e400}', "events[1].data.x", "1e400 does not fit a double"),
        (b'{"x": [NaN]}', "events[1].data.x[0]", "NaN is not a JSON number"),
        (b'{"s": "\\udc00"}', "events[1].data.s", "lone UTF-16 surrogate"),
    ],
)
def test_a_value_that_is_not_json_is_named_by_item_and_path_and_nothing_is_stored(api, data, field, phrase):
    create_webhook(api)
    body = b'{"events": [{"type": "order.paid"}, {"type": "order.paid", "data": ' + data + b"}]}"
    response = api.post("/api/v1/events/batch", content=body, headers={**ADMIN, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field and phrase in response.json()["error"]["message"]
    assert (Event.select().count(), Delivery.select().count()) == (0, 0)


@pytest.mark.postgres
def test_batched_events_keep_their_digits(api):
    body = b'{"events": [{"type": "order.paid", "data": [12345678901234567.89, 1e-7]}, {"type": "order.paid", "data": -0}]}'
    response = api.post("/api/v1/events/batch", content=body, headers={**ADMIN, "content-type": "application/json"})
    assert response.status_code == 202
    assert [Event.get_by_id(item["id"]).data for item in response.json()["data"]] == ["[12345678901234567.89,1e-7]", "-0"]


def test_a_filter_that_fails_to_evaluate_loses_no_event_of_the_batch(api):
    from app.storage.db import database

    hook = create_webhook(api, filter={"all": [{"path": "data.n", "op": "gt", "value": 1}]})
    database.execute_sql("UPDATE webhook SET filter = ? WHERE id = ?", ('{"all": 7}', hook["id"]))
    response = emit_batch(api, [{"type": "order.paid", "data": {"n": n}} for n in range(3)])
    assert response.status_code == 202, response.text
    assert [item["deliveries"] for item in response.json()["data"]] == [1, 1, 1]
    assert Delivery.select().count() == 3
