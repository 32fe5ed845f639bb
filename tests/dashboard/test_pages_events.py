"""The Events view (issue 16): the tenant's events searched by id, type, time and data, and
one event's payload and fan-out."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from app.delivery.queue import claim_due, record_results
from app.delivery.types import AttemptResult
from app.services import event_log
from app.services.events import emit_event
from app.services.users import create_user
from app.services.webhooks import create_webhook, delete_webhook
from app.storage.models import CANCELLED, DELIVERING, PENDING, SUCCEEDED, Delivery, Event, Tenant
from app.web.pages.events import PAGE_SIZE
from tests.helpers import ADMIN, sign_in, soup


def default_tenant() -> Tenant:
    return Tenant.get(Tenant.slug == "default")


def emit_three(settings, clock) -> list[str]:
    """Three events a second apart, oldest first: two orders and a sign-up."""
    ids = []
    for type_name, data in [("order.created", {"order_id": 1234, "total": 10}), ("order.paid", {"order_id": 99}),
                            ("user.signed_up", {"email": "ada@example.com"})]:
        clock.advance(1)
        ids.append(emit_event(default_tenant(), type_name, data, settings, clock()).event_id)
    return ids


def listed(response: httpx.Response) -> list[str]:
    return [row["id"].removeprefix("event-") for row in soup(response).select("#event-table tbody tr")]


SEARCHES = [
    ({"where": "data.order_id = 1234"}, [0]),
    ({"where": "data.order_id eq 1234"}, [0]),
    ({"where": "data.order_id exists"}, [1, 0]),
    ({"where": '{"any": [{"path": "data.total", "op": "gte", "value": 10}, {"path": "type", "op": "eq", "value": "order.paid"}]}'},
     [1, 0]),
    ({"type": "order.paid"}, [1]),
    ({"type": "order.*"}, [1, 0]),
    ({"type": "order.*", "where": "data.order_id < 100"}, [1]),
    ({"since": "second", "until": "third"}, [1]),
    ({"id": "first"}, [0]),
    ({"id": "first", "type": "user.signed_up"}, []),
]


@pytest.fixture
def three_events(settings, clock) -> list[str]:
    return emit_three(settings, clock)


def test_the_list_is_newest_first_and_searched_by_id_type_time_and_data(dashboard, three_events, monkeypatch):
    ids = three_events
    response = dashboard.get("/events")
    page = soup(response)
    assert listed(response) == ids[::-1]
    assert page.select_one("nav.topnav a[aria-current=page]").text == "Events"
    newest = page.select_one(f"#event-{ids[2]}")
    assert newest.select_one("td[data-label=Event] a")["href"] == f"/events/{ids[2]}"
    assert newest.select_one("td[data-label=Event] code").text == "user.signed_up"
    assert newest.select_one(f"#event-id-{ids[2]}").text == ids[2]
    assert newest.select_one(".btn-copy")["data-copy-target"] == f"event-id-{ids[2]}"
    assert json.loads(newest.select_one("td[data-label=Data] code").text) == {"email": "ada@example.com"}
    assert newest.select_one("td[data-label=Deliveries]").text.strip() == "none"  # no webhook here
    assert newest.select_one("time")["title"].endswith("UTC")
    form = page.select_one("#event-search form")
    assert (form["method"], form["action"], form["hx-get"], form["hx-target"]) == ("get", "/events", "/events", "#event-search")
    assert {label["for"] for label in form.select("label")} == {i["id"] for i in form.select("input")}
    assert {o["value"] for o in page.select("#event-type-options option")} >= {"order.created", "order.paid"}

    created = {e.id: e.created_at.strftime("%Y-%m-%dT%H:%M:%S") for e in Event.select()}
    named = {"first": ids[0], "second": created[ids[1]], "third": created[ids[2]]}
    for params, expected in SEARCHES:
        params = {name: named.get(value, value) for name, value in params.items()}
        response = dashboard.get("/events", params=params)
        assert response.status_code == 200, params
        assert listed(response) == [ids[i] for i in expected], params
        form = soup(response).select_one("#event-search form")
        for name, value in params.items():
            assert form.select_one(f"[name={name}]")["value"] == value, "the form shows what was searched"

    response = dashboard.get("/events", params={"type": "order.created"}, htmx=True)  # the form and its results
    assert response.status_code == 200 and "<html" not in response.text and "HX-Request" in response.headers["vary"]
    assert soup(response).find()["id"] == "event-search"
    assert listed(response) == [ids[0]]

    for params in ({"where": "data.order_id = 5"}, {"id": "evt_00000000000000000000000000"}, {"since": "2999-01-01T00:00"}):
        empty = soup(dashboard.get("/events", params=params)).select_one("#event-list .empty-state")
        assert empty.h2.text == "No events match these filters", params
        assert empty.select_one("a").text == "Clear filters" and empty.select_one("a")["href"] == "/events"

    # A data filter reads a bounded number of events per page; when none of those matched,
    # the page says so and goes on in older ones rather than claiming there is no match.
    monkeypatch.setattr(event_log, "SCAN_CAP", 2)
    monkeypatch.setattr(event_log, "SCAN_BATCH", 2)
    stopped = soup(dashboard.get("/events", params={"where": "data.order_id = 1234"})).select_one("#event-list .empty-state")
    assert stopped.h2.text == "No match among the newest events read"
    older = stopped.select_one("a")
    assert older.text == "Search older events" and listed(dashboard.get(older["href"])) == [ids[0]]


MISTAKES = [
    ({"where": "data.order_id == 1234"}, "where", "is not `<path> <operator> <value>`"),
    ({"where": "order_id = 3"}, "where", "must start with one of id, type, timestamp, data"),
    ({"where": '{"all": [1'}, "where", "not valid JSON"),
    ({"type": "order created"}, "type", "must be an event type"),
    ({"since": "yesterday"}, "since", "is not an ISO 8601 time"),
    ({"since": "2026-01-02T00:00", "until": "2026-01-01T00:00"}, "until", "must be later than since"),
    ({"id": "dlv_01JD0000000000000000000000"}, "id", "must be an event id"),
]


def test_a_bad_search_is_an_inline_error_at_its_field(dashboard, three_events):
    for (params, field, message), htmx in itertools.product(MISTAKES, (False, True)):
        response = dashboard.get("/events", params=params, htmx=htmx)
        assert response.status_code == 422, params
        page = soup(response)
        control = page.select_one(f"#filter-{field}")
        assert control["aria-invalid"] == "true" and f"filter-{field}-error" in control["aria-describedby"]
        assert message in page.select_one(f"#filter-{field}-error").text
        assert "has-error" in control.parent["class"]
        assert control["value"] == params[field], "what was typed stays to be corrected"
        assert page.select("#event-table tbody tr") == []

    response = dashboard.get("/events", params={"before": "nonsense"})  # not a field of the form
    assert response.status_code == 422
    assert "is not a cursor of this log" in soup(response).select_one("#event-search .form-error").text


def test_load_more_pages_by_the_shared_cursors(dashboard, settings, clock):
    empty = soup(dashboard.get("/events")).select_one("#event-list .empty-state")
    assert empty.h2.text == "No events yet" and empty.select_one("a") is None

    ids = []
    for n in range(PAGE_SIZE + 2):
        clock.advance(1)
        ids.append(emit_event(default_tenant(), "order.created", {"n": n}, settings, clock()).event_id)
    first = dashboard.get("/events", params={"type": "order.created"})
    assert listed(first) == ids[::-1][:PAGE_SIZE]
    more = soup(first).select_one("#event-pager a")
    assert more.text == "Load more events" and more["hx-target"] == "#event-table" and more["hx-swap"] == "beforeend" and "type=order.created" in more["href"]

    second = dashboard.get(more["href"], htmx=True)
    assert [tr["id"].removeprefix("event-") for tr in soup(second).select("tbody tr")] == ids[1::-1]
    pager = soup(second).select_one("#event-pager")
    assert pager["hx-swap-oob"] == "true" and pager.select_one("a") is None
    assert listed(dashboard.get(more["href"])) == ids[1::-1], "without JS the link is the next page"


def deliver(settings, clock, status: int) -> None:
    """The oldest due delivery gets one attempt that answers `status`."""
    (claimed,) = claim_due(clock(), 1, settings.lease_seconds)
    result = AttemptResult(started_at=clock(), duration_ms=12, request_headers={}, status_code=status,
                           response_body="ok" if status < 300 else "boom")
    record_results([(claimed, result)], clock(), settings, lambda: 0.5)


def test_an_event_shows_its_payload_and_its_fan_out(dashboard, settings, clock):
    tenant = default_tenant()
    hooks = [create_webhook(tenant, {"url": f"http://127.0.0.1:9/{name}", "name": name, "events": ["order.created"]},
                            settings, clock()).webhook for name in ("Billing", "Warehouse", "Gone")]
    event_id = emit_event(tenant, "order.created", {"order_id": 1234, "items": [{"sku": "A-1"}]}, settings, clock()).event_id
    deliver(settings, clock, 200)
    deliver(settings, clock, 500)
    delete_webhook(hooks[2].id, tenant.id, clock())

    page = soup(dashboard.get(f"/events/{event_id}"))
    assert page.select_one("h1").text == "order.created" and page.select_one("#event-id").text == event_id
    payload = page.select_one("pre.payload").text
    assert json.loads(payload) == {"order_id": 1234, "items": [{"sku": "A-1"}]} and '\n  "order_id": 1234' in payload
    assert page.select_one("#fan-out-title").text == "Sent to 3 webhooks"
    rows = page.select("#fan-out-table tbody tr")
    delivery_ids = {d.webhook_id: d.id for d in Delivery.select()}
    for hook, row, status, attempts, answer in [(hooks[0], rows[0], SUCCEEDED, "1", "200"),
                                                (hooks[1], rows[1], PENDING, "1", "500"),
                                                (hooks[2], rows[2], CANCELLED, "0", "cancelled: the webhook was deleted")]:
        assert row.select_one(".pill").text == status
        assert row.select_one("td[data-label=Attempts]").text == attempts
        assert row.select_one("td[data-label=Response]").text.strip() == answer
        link = row.select_one("td[data-label=Delivery] a")
        assert (link["href"], link["hx-get"], link["hx-target"]) == (f"/deliveries/{delivery_ids[hook.id]}",) * 2 + ("#modal-body",)
        assert hook.name in row.select_one("td[data-label=Webhook]").text
    assert [row.select_one("td[data-label=Webhook] a")["href"] for row in rows[:2]] == [
        f"/webhooks/{hook.id}/deliveries" for hook in hooks[:2]]
    assert rows[2].select_one("td[data-label=Webhook] a") is None and "(deleted)" in rows[2].text
    assert "retry in" in rows[1].select_one("td[data-label=Status]").text
    listed_row = soup(dashboard.get("/events")).select_one(f"#event-{event_id} td[data-label=Deliveries]")
    assert [pill.text for pill in listed_row.select(".pill")] == ["1 pending", "1 succeeded", "1 cancelled"]

    fan_out = page.select_one("#event-fan-out")
    assert "every 2s" in fan_out["hx-trigger"] and "deliveriesChanged from:body" in fan_out["hx-trigger"]
    partial = dashboard.get(f"/events/{event_id}", htmx=True)
    assert "<html" not in partial.text and soup(partial).find()["id"] == "event-fan-out"

    Delivery.update(status=SUCCEEDED).execute()
    assert soup(dashboard.get(f"/events/{event_id}")).select_one("#event-fan-out")["hx-trigger"] == "deliveriesChanged from:body"
    Delivery.update(status=DELIVERING).execute()
    assert "every 2s" in soup(dashboard.get(f"/events/{event_id}")).select_one("#event-fan-out")["hx-trigger"]

    nowhere = emit_event(tenant, "user.signed_up", {}, settings, clock()).event_id
    page = soup(dashboard.get(f"/events/{nowhere}"))
    assert page.select_one("#fan-out-title").text == "Sent to 0 webhooks"
    assert "none subscribed to user.signed_up" in page.select_one("#event-fan-out p").text


def test_another_tenants_events_are_not_shown_and_a_portal_sees_its_own(dashboard, api, settings, clock):
    theirs = emit_event(Tenant.create(slug="globex", created_at=clock()), "order.created", {"secret": "globex"},
                        settings, clock()).event_id
    mine = emit_event(default_tenant(), "order.created", {}, settings, clock()).event_id
    assert listed(dashboard.get("/events")) == [mine]
    assert dashboard.get(f"/events/{theirs}").status_code == 404
    assert listed(dashboard.get("/events", params={"id": theirs})) == []

    create_user("bob", "b" * 12, Tenant.get(Tenant.slug == "globex"), clock())
    with httpx.Client(base_url=api.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        assert listed(bob.get("/events")) == [theirs]
        assert bob.get(f"/events/{mine}").status_code == 404 and bob.get(f"/events/{mine}", htmx=True).status_code == 404

    url = api.post("/api/v1/tenants/default/portal-link", headers=ADMIN).json()["url"]
    with httpx.Client(base_url=api.base_url) as portal:
        assert portal.get(url).status_code == 303
        page = portal.get("/events")
        assert listed(page) == [mine] and soup(page).select_one("nav.topnav a[href='/events']") is not None
        assert portal.get(f"/events/{mine}").status_code == 200
        assert portal.get(f"/events/{theirs}").status_code == 404
