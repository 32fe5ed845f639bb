"""A rejected request writes nothing: the tenant it names and the event type it would
auto-register are created in the transaction of the write they are for, so they roll back
with it. Checked in the database after each refusal."""

from __future__ import annotations

import dataclasses

import pytest

from app.rules.errors import InvalidInput
from app.services.events import emit_event
from app.storage.models import EventType, Tenant
from tests.helpers import ADMIN


@pytest.fixture
def settings(settings):
    """Auto-registration on: a refused emit must not leave its new type in the catalog."""
    return dataclasses.replace(settings, auto_register_event_types=True)


def tenant_exists(slug: str) -> bool:
    return Tenant.select().where(Tenant.slug == slug).exists()


def type_exists(name: str) -> bool:
    return EventType.select().where(EventType.name == name).exists()


@pytest.mark.parametrize("events, field", [
    pytest.param([{"tenant": "newco", "type": "brand.new"}, {"data": {}}], "events[1].type",
                 id="a later item is refused"),
    pytest.param([{"type": "order.created"}, {"tenant": "newco", "type": "brand.new", "idempotency_key": ""}],
                 "events[1].idempotency_key", id="the item naming the tenant is refused"),
    pytest.param([{"tenant": "newco", "type": "brand.new"}, {"tenant": "Bad Slug", "type": "order.created"}],
                 "events[1].tenant", id="another item names a bad tenant"),
])
def test_a_refused_batch_leaves_no_tenant_and_no_event_type(api, events, field):
    response = api.post("/api/v1/events/batch", json={"events": events}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert not tenant_exists("newco") and not type_exists("brand.new")


def test_an_accepted_batch_creates_the_tenant_it_names_once(api):
    events = [{"tenant": "newco", "type": "brand.new"}, {"tenant": "newco", "type": "brand.new"}]
    assert api.post("/api/v1/events/batch", json={"events": events}, headers=ADMIN).status_code == 202
    assert Tenant.select().where(Tenant.slug == "newco").count() == 1 and type_exists("brand.new")


def test_a_refused_event_leaves_no_tenant_and_no_event_type(api):
    response = api.post("/api/v1/events", json={"tenant": "newco", "type": "brand.new"},
                        headers={**ADMIN, "Idempotency-Key": "k" * 256})
    assert response.status_code == 422 and response.json()["error"]["field"] == "idempotency_key"
    assert not tenant_exists("newco") and not type_exists("brand.new")


@pytest.mark.parametrize("fields, field", [
    ({"url": "ftp://example.com/hook"}, "url"),
    ({"url": "http://127.0.0.1:9/hook", "events": []}, "events"),
    ({"url": "http://127.0.0.1:9/hook", "retry_schedule": [-1]}, "retry_schedule"),
])
def test_a_refused_webhook_leaves_no_tenant(api, fields, field):
    response = api.post("/api/v1/webhooks", json={"tenant": "newco", **fields}, headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == field
    assert not tenant_exists("newco")


def test_an_accepted_webhook_creates_its_tenant(api):
    response = api.post("/api/v1/webhooks", json={"tenant": "newco", "url": "http://127.0.0.1:9/hook"}, headers=ADMIN)
    assert response.status_code == 201 and tenant_exists("newco")


@pytest.mark.parametrize("slug", ["Bad Slug", "-dash-first", "x" * 65])
def test_a_portal_link_for_a_bad_slug_leaves_no_tenant(api, slug):
    response = api.post(f"/api/v1/tenants/{slug}/portal-link", headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == "tenant"
    assert Tenant.select().count() == 1  # "default"


def test_a_portal_link_creates_a_new_tenant_with_the_link(api):
    assert api.post("/api/v1/tenants/newco/portal-link", headers=ADMIN).status_code == 201
    assert tenant_exists("newco")


def test_an_event_refused_outside_any_transaction_leaves_no_event_type(db, settings, clock):
    """The service on its own (the CLI, a scheduled job): the type is registered in the
    event's own transaction, not committed ahead of it."""
    tenant = Tenant.get(Tenant.slug == "default")
    with pytest.raises(InvalidInput) as refused:
        emit_event(tenant, "brand.new", {}, settings, clock(), idempotency_key="k" * 256)
    assert refused.value.field == "idempotency_key" and not type_exists("brand.new")
