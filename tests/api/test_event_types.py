"""The event-type catalog: API, dashboard page, archiving end to end."""

from __future__ import annotations

import json

import httpx
import pytest

from app.services.catalog import BUILT_IN
from app.services.users import create_user
from app.services.webhooks import create_webhook as create_webhook_row
from app.storage.models import Delivery, EventType, Tenant
from tests.helpers import ADMIN, create_webhook, sign_in, soup


def names(api, **params) -> list[str]:
    return [t["name"] for t in api.get("/api/v1/event-types", params=params, headers=ADMIN).json()["data"]]


def test_create_edit_archive_over_the_api(api, clock):
    created = api.post("/api/v1/event-types", json={"name": "invoice.paid", "description": "An invoice was paid.",
                                                    "example": {"invoice_id": "in_1", "amount": 4200}}, headers=ADMIN)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["description"], body["example"], body["archived_at"]) == (
        "invoice.paid", "An invoice was paid.", {"invoice_id": "in_1", "amount": 4200}, None)
    assert created.headers["location"] == "/api/v1/event-types/invoice.paid"

    clock.advance(60)
    patched = api.patch("/api/v1/event-types/invoice.paid", json={"description": "Paid.", "example": [1, 2]}, headers=ADMIN)
    assert (patched.json()["description"], patched.json()["example"]) == ("Paid.", [1, 2])
    archived = api.patch("/api/v1/event-types/invoice.paid", json={"archived": True}, headers=ADMIN).json()
    assert archived["archived_at"] == clock().isoformat().replace("+00:00", "Z")
    assert "invoice.paid" not in names(api) and "invoice.paid" in names(api, include_archived="true")
    assert api.get("/api/v1/event-types/invoice.paid", headers=ADMIN).json()["archived_at"] == archived["archived_at"]
    clock.advance(60)
    again = api.patch("/api/v1/event-types/invoice.paid", json={"archived": True}, headers=ADMIN).json()
    assert again["archived_at"] == archived["archived_at"], "archiving twice keeps the first time"
    restored = api.patch("/api/v1/event-types/invoice.paid", json={"archived": False}, headers=ADMIN).json()
    assert restored["archived_at"] is None and "invoice.paid" in names(api)


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "field"),
    [
        ("post", "/api/v1/event-types", {"name": "order.created"}, 409, "name"),
        ("post", "/api/v1/event-types", {"name": "bad name!"}, 422, "name"),
        ("post", "/api/v1/event-types", {}, 422, "name"),
        ("post", "/api/v1/event-types", {"name": "a.b", "archived": True}, 422, "archived"),
        ("post", "/api/v1/event-types", {"name": "a.b", "description": 5}, 422, "description"),
        ("patch", "/api/v1/event-types/order.created", {"name": "order.made"}, 422, "name"),
        ("patch", "/api/v1/event-types/order.created", {"archived": "yes"}, 422, "archived"),
        ("patch", "/api/v1/event-types/order.created", {"colour": "red"}, 422, "colour"),
        ("patch", "/api/v1/event-types/webhook.test", {"archived": True}, 422, "archived"),
        ("patch", "/api/v1/event-types/nope", {"description": ""}, 404, None),
    ],
)
def test_api_mistakes_get_a_clear_4xx(api, method, url, body, status, field):
    response = getattr(api, method)(url, json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert response.json()["error"].get("field") == field
    assert EventType.get(EventType.name == "webhook.test").archived_at is None


def test_only_admin_keys_change_the_shared_catalog(api, tenant_key):
    assert api.get("/api/v1/event-types", headers=tenant_key).status_code == 200
    refused = api.post("/api/v1/event-types", json={"name": "x.y"}, headers=tenant_key)
    assert refused.status_code == 403 and "admin key" in refused.json()["error"]["message"]
    assert api.patch("/api/v1/event-types/order.paid", json={"archived": True}, headers=tenant_key).status_code == 403
    assert not EventType.select().where(EventType.name == "x.y").exists()
    assert api.get("/api/v1/event-types", params={"include_archived": "maybe"}, headers=ADMIN).json()["error"]["field"] == "include_archived"


def test_an_archived_type_cannot_be_emitted_but_other_subscriptions_keep_working(api):
    webhook = create_webhook(api, events=["order.created", "order.paid"])
    api.patch("/api/v1/event-types/order.paid", json={"archived": True}, headers=ADMIN)
    refused = api.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "type" and "archived" in refused.json()["error"]["message"]
    accepted = api.post("/api/v1/events", json={"type": "order.created"}, headers=ADMIN)
    assert accepted.status_code == 202 and accepted.json()["deliveries"] == 1
    assert Delivery.select().where(Delivery.webhook == webhook["id"]).count() == 1
    api.patch("/api/v1/event-types/order.paid", json={"archived": False}, headers=ADMIN)
    assert api.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN).status_code == 202


def test_catalog_page_lists_types_with_pretty_examples(dashboard):
    api_patch = {"description": "A new order.", "example": {"order": {"id": 1}}}
    EventType.update(**api_patch).where(EventType.name == "order.created").execute()
    EventType.update(archived_at=EventType.created_at).where(EventType.name == "order.paid").execute()
    page = soup(dashboard.get("/event-types"))
    assert page.select_one("nav.topnav a[aria-current=page]").text == "Event types"
    rows = {tr.select_one("code").text: tr for tr in page.select("#event-type-table tbody tr")}
    assert set(rows) == {"order.created", "order.paid", "user.signed_up"} | {seed.name for seed in BUILT_IN}
    assert rows["order.created"].select_one("td[data-label=Description]").text == "A new order."
    assert rows["order.created"].select_one("pre").text == '{\n  "order": {\n    "id": 1\n  }\n}'
    assert rows["order.paid"].select_one(".pill").text == "archived" and "archived" in rows["order.paid"]["class"]
    assert rows["order.paid"].select_one("input[name=archived]")["value"] == "false"
    assert rows["order.created"].select_one("a[href='/event-types/order.created/archive']").text == "Archive", "asks first"
    assert rows["webhook.test"].select_one("input[name=archived]") is None, "built in: no archive button"
    assert rows["webhook.disabled"].select_one("input[name=archived]") is None, "built in: no archive button"
    assert page.select_one("a[href='/event-types/new']")
    assert not page.select("[style]") and not page.select("script:not([src])")
    # Hidden from the subscription picker while archived.
    picker = soup(dashboard.get("/webhooks/new")).select("input[name=events]")
    assert "order.paid" not in {box["value"] for box in picker} and "order.created" in {box["value"] for box in picker}


def test_create_and_edit_with_plain_forms(dashboard):
    response = dashboard.post("/event-types", {"name": "invoice.paid", "description": "Paid.", "example": '{"id": 1}'})
    assert response.status_code == 303 and response.headers["location"] == "/event-types"
    assert "invoice.paid created" in soup(dashboard.get("/event-types")).select_one(".banner-success").text
    created = EventType.get(EventType.name == "invoice.paid")
    assert (created.description, created.example) == ("Paid.", {"id": 1})

    form = soup(dashboard.get("/event-types/invoice.paid/edit")).select_one("main form")
    assert form["action"] == "/event-types/invoice.paid/edit" and form.select_one("input[name=name]") is None
    assert form.select_one("#et-name")["readonly"] == "" and form.select_one("textarea[name=example]").text == '{\n  "id": 1\n}'
    saved = dashboard.post("/event-types/invoice.paid/edit", {"description": "Settled.", "example": ""})
    assert saved.status_code == 303
    edited = EventType.get(EventType.name == "invoice.paid")
    assert (edited.description, edited.example) == ("Settled.", None)

    archived = dashboard.post("/event-types/invoice.paid/archive", {"archived": "true"})
    assert archived.status_code == 303 and EventType.get(EventType.name == "invoice.paid").archived_at is not None
    refused = dashboard.post("/event-types/webhook.test/archive", {"archived": "true"})
    assert "built in" in soup(dashboard.get(refused.headers["location"])).select_one(".banner-error").text


def test_create_with_htmx_and_inline_errors(dashboard):
    partial = dashboard.get("/event-types/new", htmx=True)
    assert "<html" not in partial.text and soup(partial).select_one("form")["hx-target"] == "#modal-body"
    for data, field, phrase in [
        ({"name": "a.b", "example": "{nope"}, "example", "not valid JSON"),
        ({"name": "order.created"}, "name", "already exists"),
        ({"name": "bad name"}, "name", "not a valid event type name"),
    ]:
        for htmx in (True, False):
            response = dashboard.post("/event-types", data, htmx=htmx)
            assert response.status_code == 422, data
            page = soup(response)
            assert phrase in page.select_one(f"#et-{field}-error").text
            assert page.select_one("input[name=name]")["value"] == data["name"], "what was typed stays"
            assert ("<html" in response.text) is not htmx
    assert soup(dashboard.post("/event-types", {"name": "a.b", "example": "{nope"})).select_one("textarea[name=example]").text == "{nope"
    assert not EventType.select().where(EventType.name == "a.b").exists()

    created = dashboard.post("/event-types", {"name": "a.b", "example": "[1]"}, htmx=True)
    assert created.status_code == 204
    trigger = json.loads(created.headers["hx-trigger"])
    assert trigger["eventTypesChanged"] and trigger["closeModal"] and "a.b created" in trigger["toast"]["message"]
    table = dashboard.get("/event-types", htmx=True)
    assert soup(table).find()["id"] == "event-type-table" and "a.b" in table.text

    archived = dashboard.post("/event-types/a.b/archive", {"archived": "true"}, htmx=True)
    assert archived.status_code == 204 and "archived" in json.loads(archived.headers["hx-trigger"])["toast"]["message"]
    refused = dashboard.post("/event-types/webhook.test/archive", {"archived": "true"}, htmx=True)
    assert refused.status_code == 422 and "built in" in json.loads(refused.headers["hx-trigger"])["toast"]["message"]


def test_non_admins_read_only(dashboard, api, clock):
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=api.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        page = soup(bob.get("/event-types"))
        assert len(page.select("#event-type-table tbody tr")) == 3 + len(BUILT_IN)
        assert not page.select("#event-type-table form") and not page.select("a[href='/event-types/new']")
        assert "Only an admin can change them" in page.text
        assert bob.get("/event-types/new").status_code == 403
        assert bob.get("/event-types/order.paid/edit").status_code == 403
        assert bob.post("/event-types", {"name": "x.y"}).status_code == 403
        assert bob.post("/event-types/order.paid/archive", {"archived": "true"}).status_code == 403
    assert EventType.get(EventType.name == "order.paid").archived_at is None
    assert not EventType.select().where(EventType.name == "x.y").exists()


def test_the_log_can_still_be_filtered_by_an_archived_type(dashboard, settings, clock):
    """Past deliveries of an archived type stay in the log, so its filter keeps offering it."""
    webhook = create_webhook_row(Tenant.get(Tenant.slug == "default"), {"url": "http://127.0.0.1:9/hook"}, settings, clock()).webhook
    EventType.update(archived_at=clock()).where(EventType.name == "order.paid").execute()
    options = soup(dashboard.get(f"/webhooks/{webhook.id}/deliveries")).select("#filter-type option")
    assert "order.paid" in {o["value"] for o in options}


@pytest.mark.parametrize(
    ("method", "url", "body", "field", "phrase"),
    [
        ("POST", "/api/v1/event-types", b'{"name": "a.b", "example": {"price": 1e400}}', "example.price", "does not fit a double"),
        ("POST", "/api/v1/event-types", b'{"name": "a.b", "example": [1, NaN]}', "example[1]", "NaN is not a JSON number"),
        ("PATCH", "/api/v1/event-types/order.paid", b'{"example": {"n": -Infinity}}', "example.n", "-Infinity is not"),
        ("PATCH", "/api/v1/event-types/order.paid", b'{"example": {"n": 1e999}}', "example.n", "1e999 does not fit"),
    ],
)
def test_examples_must_be_strict_json(api, method, url, body, field, phrase):
    response = api.request(method, url, content=body, headers={**ADMIN, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field and phrase in response.json()["error"]["message"]
    assert names(api) == names(api, include_archived="true")  # nothing archived, nothing created
    assert "a.b" not in names(api) and EventType.get(EventType.name == "order.paid").example is None


@pytest.mark.parametrize(
    "example, phrase",
    [
        ("NaN", "NaN is not a JSON number"),
        ('{"total": {"cents": 1e400}}', "total.cents: 1e400 does not fit a double"),
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_the_example_box_refuses_what_is_not_json_inline(dashboard, example, phrase):
    response = dashboard.post("/event-types", {"name": "a.b", "example": example}, htmx=True)
    assert response.status_code == 422
    assert phrase in soup(response).select_one("#et-example-error").text
    assert not EventType.select().where(EventType.name == "a.b").exists()


def test_a_seeded_example_that_is_not_json_stops_the_start_naming_it(db, clock):
    from app.config import EventTypeSeed
    from app.rules.errors import InvalidInput
    from app.services.catalog import seed_event_types

    with pytest.raises(InvalidInput) as refused:
        seed_event_types((EventTypeSeed("invoice.paid", "", {"total": float("inf")}),), clock())
    assert refused.value.field == "event_types.example.total"
    assert "inf is not a JSON number (JSON numbers must be finite) (the example of 'invoice.paid')" in refused.value.message
    assert not EventType.select().where(EventType.name == "invoice.paid").exists()
