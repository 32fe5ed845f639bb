"""GET /api/v1/events and GET /api/v1/events/{id}/deliveries: the event log as an app reads it.

Events are emitted through the API on the test's clock; deliveries of the fan-out are made
by the real sender against a real receiver on loopback.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.services.event_log import SCAN_CAP
from app.storage.models import Delivery
from tests.helpers import ADMIN, create_webhook, emit_over_api, key_for

EVENTS = "/api/v1/events"


def emit(api, clock, key=ADMIN, type_name="order.created", data=None, **extra) -> str:
    """One event one second after the previous one."""
    clock.advance(1)
    response = api.post(EVENTS, json={"type": type_name, "data": data if data is not None else {"n": 1}, **extra},
                        headers=key)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def emit_batch(api, key, items: list[dict]) -> list[str]:
    """Events that share one `created_at`: only their ids order them in the log."""
    response = api.post(f"{EVENTS}/batch", json={"events": items}, headers=key)
    assert response.status_code == 202, response.text
    return [item["id"] for item in response.json()["data"]]


def listed(api, key=ADMIN, **params) -> dict:
    response = api.get(EVENTS, params=params, headers=key)
    assert response.status_code == 200, response.text
    return response.json()


def every_page(api, key=ADMIN, between_pages=lambda: None, **params) -> list[str]:
    ids, before = [], None
    for _ in range(100):
        page = listed(api, key, **params, **({"before": before} if before else {}))
        ids += [event["id"] for event in page["data"]]
        before = page["next_cursor"]
        if before is None:
            return ids
        between_pages()
    raise AssertionError("the pages never ended")


def error_of(response, status: int = 422) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


@pytest.mark.postgres
def test_pages_hold_every_event_once_newest_first_while_new_ones_arrive(api, clock):
    acme = key_for("acme", clock)
    singles = [emit(api, clock, acme, data={"n": n}) for n in range(5)]
    clock.advance(1)
    batch = emit_batch(api, acme, [{"type": "order.paid", "data": {"n": n}} for n in range(4)])
    older_first = singles + sorted(batch)  # a batch's rows tie on created_at; ids break the tie
    arrived = []

    def someone_emits():
        arrived.append(emit(api, clock, acme, data={"late": True}))

    assert every_page(api, acme, someone_emits, limit=3) == older_first[::-1]
    assert len(arrived) == 2, "two page turns, each with a new event"
    first = listed(api, acme, limit=3)
    assert [e["id"] for e in first["data"]] == arrived[::-1] + [older_first[-1]], "new events lead the log"
    event = first["data"][0]
    assert event == {"id": arrived[-1], "type": "order.created", "data": {"late": True},
                     "created_at": clock().isoformat().replace("+00:00", "Z"),
                     "traceparent": None, "tracestate": None}


@pytest.mark.postgres
def test_type_filters_exactly_or_by_family(api, clock):
    assert api.post("/api/v1/event-types", json={"name": "orders.legacy"}, headers=ADMIN).status_code == 201
    created = emit(api, clock, type_name="order.created")
    paid = emit(api, clock, type_name="order.paid")
    emit(api, clock, type_name="user.signed_up")
    emit(api, clock, type_name="orders.legacy")

    assert [e["id"] for e in listed(api, type="order.paid")["data"]] == [paid]
    assert [e["id"] for e in listed(api, type="order.*")["data"]] == [paid, created], "orders.legacy is not order.*"
    assert listed(api, type="invoice.sent") == {"data": [], "next_cursor": None}


@pytest.mark.postgres
def test_a_time_range_takes_since_inclusive_and_until_exclusive(api, clock):
    ids = [emit(api, clock) for _ in range(4)]
    start = clock() - timedelta(seconds=2)  # the second of the four

    def iso(at):
        return at.isoformat()

    assert [e["id"] for e in listed(api, since=iso(start))["data"]] == [ids[3], ids[2], ids[1]]
    assert [e["id"] for e in listed(api, until=iso(start))["data"]] == [ids[0]]
    window = {"since": iso(start), "until": iso(start + timedelta(seconds=2))}
    assert [e["id"] for e in listed(api, **window)["data"]] == [ids[2], ids[1]]
    naive_utc = start.replace(tzinfo=None).isoformat()
    assert listed(api, since=naive_utc) == listed(api, since=iso(start)), "no offset: UTC"


@pytest.mark.postgres
def test_where_selects_on_a_data_field(api, clock):
    wanted = emit(api, clock, data={"order_id": 1234, "country": "DE"})
    emit(api, clock, data={"order_id": "1234", "country": "DE"})  # a string is not the number
    other = emit(api, clock, data={"order_id": 99, "country": "FR"})

    assert [e["id"] for e in listed(api, where="data.order_id eq 1234")["data"]] == [wanted]
    both = listed(api, where=['data.country in ["DE","FR"]', "data.order_id lt 1000"])
    assert [e["id"] for e in both["data"]] == [other]
    as_json = '{"any": [{"path": "data.country", "op": "eq", "value": "FR"}, {"path": "id", "op": "eq", "value": "%s"}]}'
    assert [e["id"] for e in listed(api, where=as_json % wanted)["data"]] == [other, wanted]
    assert every_page(api, where="data.country eq DE", limit=1) == [e for e in every_page(api, limit=1)
                                                                   if e != other]


def test_where_reads_a_bounded_window_and_its_cursor_goes_on(api, clock):
    """A rare match behind more than SCAN_CAP other events: the first page comes back empty
    but with a cursor, and the next one finds it."""
    needle = emit(api, clock, data={"needle": True})
    clock.advance(1)
    emit_batch(api, ADMIN, [{"type": "order.paid", "data": {"hay": n}} for n in range(SCAN_CAP)])

    first = listed(api, where="data.needle eq true")
    assert first["data"] == [] and first["next_cursor"] is not None
    second = listed(api, where="data.needle eq true", before=first["next_cursor"])
    assert ([e["id"] for e in second["data"]], second["next_cursor"]) == ([needle], None)


@pytest.mark.postgres
def test_a_tenant_key_lists_its_own_events_and_an_admin_key_chooses(api, clock):
    acme, globex = key_for("acme", clock), key_for("globex", clock)
    mine = emit(api, clock, acme)
    theirs = emit(api, clock, globex)
    default = emit(api, clock, ADMIN)

    assert [e["id"] for e in listed(api, acme)["data"]] == [mine]
    assert [e["id"] for e in listed(api, acme, tenant="acme")["data"]] == [mine]
    assert error_of(api.get(EVENTS, params={"tenant": "globex"}, headers=acme), 403)["field"] == "tenant"
    assert [e["id"] for e in listed(api, ADMIN, tenant="globex")["data"]] == [theirs]
    assert [e["id"] for e in listed(api, ADMIN)["data"]] == [default], "an admin key reads `default` unless told"
    assert listed(api, ADMIN, tenant="nobody")["data"] == []
    assert api.get(f"{EVENTS}/{theirs}/deliveries", headers=acme).status_code == 404


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"where": "data.order_id like 1"}, "where", "is not `<path> <operator> <value>`"),
        ({"where": "order_id eq 1"}, "where", "must start with one of id, type, timestamp, data"),
        ({"where": '{"all": ['}, "where", "not valid JSON"),
        ({"type": "order.*.x"}, "type", "an event type such as order.created"),
        ({"type": "*"}, "type", "a family such as order.*"),
        ({"limit": "0"}, "limit", "between 1 and 100"),
        ({"limit": "many"}, "limit", "must be an integer"),
        ({"since": "yesterday"}, "since", "ISO 8601"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until", "later than since"),
        ({"before": "12-evt_nope"}, "before", "not a cursor of this log"),
    ],
)
def test_bad_parameters_are_named(api, params, field, message):
    error = error_of(api.get(EVENTS, params=params, headers=ADMIN))
    assert error["field"] == field and message in error["message"]


def test_a_delivery_log_cursor_is_not_an_event_cursor(api, clock):
    webhook = create_webhook(api)
    emit(api, clock)
    emit(api, clock)
    cursor = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", params={"limit": 1}, headers=ADMIN).json()
    assert error_of(api.get(EVENTS, params={"before": cursor["next_cursor"]}, headers=ADMIN))["field"] == "before"


@pytest.mark.anyio
@pytest.mark.postgres
async def test_the_fan_out_shows_each_webhook_with_how_its_delivery_went(api, make_engine, clock, receiver):
    receiver.plan("/fails", 500)
    good = create_webhook(api, url=receiver.url("/ok"), name="ledger")
    bad = create_webhook(api, url=receiver.url("/fails"), name="crm", retry_schedule=[0, 60])
    create_webhook(api, url="http://127.0.0.1:9/closed", name="legacy", retry_schedule=[0, 60])
    create_webhook(api, url=receiver.url("/other"), events=["user.signed_up"])
    event_id = emit_over_api(api)
    await (await make_engine()).run()
    assert sorted(r.path for r in receiver.requests) == ["/fails", "/ok"]

    response = api.get(f"{EVENTS}/{event_id}/deliveries", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["event"]["id"] == event_id and body["event"]["data"] == {"n": 1}
    by_webhook = {d["webhook"]["name"]: d for d in body["data"]}
    assert set(by_webhook) == {"ledger", "crm", "legacy"}, "not the webhook that does not subscribe"
    ok, failing, refused = by_webhook["ledger"], by_webhook["crm"], by_webhook["legacy"]
    assert (ok["status"], ok["attempts"], ok["last_status_code"], ok["last_error"]) == ("succeeded", 1, 200, None)
    assert (failing["status"], failing["attempts"], failing["last_status_code"]) == ("pending", 1, 500)
    assert failing["next_attempt_at"] is not None
    assert (refused["status"], refused["attempts"], refused["last_status_code"]) == ("pending", 1, None)
    assert "refused" in refused["last_error"].lower()
    assert failing["webhook"] == {"id": bad["id"], "name": "crm", "url": receiver.url("/fails"), "deleted": False}
    delivery_id = Delivery.get(Delivery.webhook == good["id"]).id
    assert ok["links"] == {"delivery": f"/api/v1/deliveries/{delivery_id}", "webhook": f"/api/v1/webhooks/{good['id']}"}
    detail = api.get(ok["links"]["delivery"], headers=ADMIN).json()
    assert detail["attempt_log"][0]["response_status"] == 200

    assert api.delete(f"/api/v1/webhooks/{bad['id']}", headers=ADMIN).status_code == 204
    after = api.get(f"{EVENTS}/{event_id}/deliveries", headers=ADMIN).json()
    assert {d["webhook"]["name"]: d["webhook"]["deleted"] for d in after["data"]} == {
        "ledger": False, "crm": True, "legacy": False}
    assert error_of(api.get(f"{EVENTS}/evt_missing/deliveries", headers=ADMIN), 404)["message"]
