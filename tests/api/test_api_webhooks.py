"""Webhooks, deliveries and event types over the JSON API, with tenant isolation."""

from __future__ import annotations

import pytest

from app.storage.models import DELIVERING, FAILED, Delivery, Webhook
from tests.helpers import ADMIN, create_webhook, emit_over_api


def test_secret_is_shown_once(api):
    created = create_webhook(api, name="Billing", description="ERP sync", events=["order.paid"])
    assert created["secret"].startswith("whsec_")
    assert created["name"] == "Billing" and created["events"] == ["order.paid"] and created["enabled"] is True
    fetched = api.get(f"/api/v1/webhooks/{created['id']}", headers=ADMIN).json()
    listed = api.get("/api/v1/webhooks", headers=ADMIN).json()["data"]
    assert "secret" not in fetched and all("secret" not in w for w in listed)
    assert created["secret"] not in api.get("/api/v1/webhooks", headers=ADMIN).text
    assert {k: v for k, v in created.items() if k != "secret"} == fetched


def test_name_defaults_to_the_host(api):
    assert create_webhook(api, url="http://127.0.0.1:9/x")["name"] == "127.0.0.1"


def test_patch_changes_only_what_is_sent(api, clock):
    webhook = create_webhook(api, name="Old", events=["*"])
    clock.advance(60)
    response = api.patch(f"/api/v1/webhooks/{webhook['id']}", json={"name": "New", "events": ["order.*"]}, headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["events"], body["url"]) == ("New", ["order.*"], webhook["url"])
    assert body["updated_at"] > webhook["updated_at"]


def test_reenabling_clears_the_failure_streak(api):
    webhook = create_webhook(api)
    Webhook.update(enabled=False, consecutive_failures=5, disabled_reason="410 Gone").where(Webhook.id == webhook["id"]).execute()
    body = api.patch(f"/api/v1/webhooks/{webhook['id']}", json={"enabled": True}, headers=ADMIN).json()
    assert (body["enabled"], body["consecutive_failures"], body["disabled_reason"]) == (True, 0, None)


def test_delete(api):
    webhook = create_webhook(api)
    assert api.delete(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).status_code == 204
    assert api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).status_code == 404


@pytest.mark.parametrize(
    "fields, field, phrase",
    [
        ({}, "url", "required"),
        ({"url": "ftp://example.com/x"}, "url", "https://"),
        ({"url": "https://user:pw@example.com/x"}, "url", "credentials"),
        ({"url": "https://10.1.2.3/x"}, "url", "private"),
        ({"url": "https://example.com/x", "name": "  "}, "name", "required"),
        ({"url": "https://example.com/x", "events": []}, "events", "non-empty list"),
        ({"url": "https://example.com/x", "events": "order.created"}, "events", "non-empty list"),
        ({"url": "https://example.com/x", "events": ["nope.created"]}, "events", "unknown event type 'nope.created'"),
        ({"url": "https://example.com/x", "events": ["order.*.x"]}, "events", "not an event type or a wildcard"),
        ({"url": "https://example.com/x", "enabled": "yes"}, "enabled", "true or false"),
        ({"url": "https://example.com/x", "secret": "too-short"}, "secret", "16 to 256 visible ASCII"),
    ],
)
def test_invalid_webhooks_are_422_naming_the_field(api, fields, field, phrase):
    response = api.post("/api/v1/webhooks", json=fields, headers=ADMIN)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and phrase in error["message"]
    assert Webhook.select().count() == 0


def test_plain_http_is_refused_unless_allowed(settings, clock):
    from tests.helpers import serving

    with serving(settings.replace(allow_http=False), clock, run_sender=False) as client:
        response = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=ADMIN)
    assert response.status_code == 422
    assert "allow_http" in response.json()["error"]["message"]


def test_invalid_patch_changes_nothing(api):
    webhook = create_webhook(api, name="Keep")
    response = api.patch(f"/api/v1/webhooks/{webhook['id']}", json={"name": "New", "url": "nope"}, headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == "url"
    assert api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).json()["name"] == "Keep"


def test_event_types_list_the_catalog(api):
    names = [t["name"] for t in api.get("/api/v1/event-types", headers=ADMIN).json()["data"]]
    assert names == sorted(names)
    assert {"order.created", "order.paid", "user.signed_up", "webhook.test"} <= set(names)


def test_deliveries_newest_first_with_filters_and_pages(api, clock):
    webhook = create_webhook(api)
    ids = []
    for i in range(5):
        clock.advance(1)
        ids.append(emit_over_api(api, type_name="order.paid" if i % 2 else "order.created"))
    url = f"/api/v1/webhooks/{webhook['id']}/deliveries"

    page = api.get(url, params={"limit": 2}, headers=ADMIN).json()
    assert [d["event_id"] for d in page["data"]] == ids[::-1][:2]
    rest = api.get(url, params={"limit": 10, "before": page["next_cursor"]}, headers=ADMIN).json()
    assert [d["event_id"] for d in rest["data"]] == ids[::-1][2:] and rest["next_cursor"] is None

    paid = api.get(url, params={"event_type": "order.paid"}, headers=ADMIN).json()["data"]
    assert [d["event_id"] for d in paid] == [ids[3], ids[1]]
    Delivery.update(status=FAILED).where(Delivery.event == ids[0]).execute()
    failed = api.get(url, params={"status": "failed"}, headers=ADMIN).json()["data"]
    assert [d["event_id"] for d in failed] == [ids[0]]

    bad = api.get(url, params={"status": "weird"}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    assert api.get(url, params={"limit": "x"}, headers=ADMIN).status_code == 422


def test_delivery_detail_shows_payload_and_attempts(api):
    webhook = create_webhook(api)
    event_id = emit_over_api(api)
    (listed,) = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]
    detail = api.get(f"/api/v1/deliveries/{listed['id']}", headers=ADMIN).json()
    assert detail["status"] == "pending" and detail["attempt_log"] == []
    assert detail["payload"]["id"] == event_id and detail["payload"]["data"] == {"n": 1}


def test_resend_of_a_delivery_in_flight_is_409(api):
    webhook = create_webhook(api)
    emit_over_api(api)
    Delivery.update(status=DELIVERING).execute()
    (delivery,) = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]
    response = api.post(f"/api/v1/deliveries/{delivery['id']}/resend", headers=ADMIN)
    assert response.status_code == 409 and "being sent" in response.json()["error"]["message"]


def test_a_tenant_never_sees_or_touches_another_tenants_rows(api, tenant_key, other_tenant_key):
    theirs = create_webhook(api, key=other_tenant_key)
    emit_over_api(api, headers=other_tenant_key)
    delivery_id = Delivery.get().id
    mine = create_webhook(api, key=tenant_key)

    assert [w["id"] for w in api.get("/api/v1/webhooks", headers=tenant_key).json()["data"]] == [mine["id"]]
    attempts = [
        api.get(f"/api/v1/webhooks/{theirs['id']}", headers=tenant_key),
        api.patch(f"/api/v1/webhooks/{theirs['id']}", json={"name": "x"}, headers=tenant_key),
        api.delete(f"/api/v1/webhooks/{theirs['id']}", headers=tenant_key),
        api.post(f"/api/v1/webhooks/{theirs['id']}/test", headers=tenant_key),
        api.get(f"/api/v1/webhooks/{theirs['id']}/deliveries", headers=tenant_key),
        api.get(f"/api/v1/deliveries/{delivery_id}", headers=tenant_key),
        api.post(f"/api/v1/deliveries/{delivery_id}/resend", headers=tenant_key),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert Webhook.get_by_id(theirs["id"]).name == theirs["name"]

    named = api.get("/api/v1/webhooks", params={"tenant": "globex"}, headers=tenant_key)
    assert named.status_code == 403 and named.json()["error"]["field"] == "tenant"

    # The admin key sees both tenants, and can narrow the list to one.
    assert len(api.get("/api/v1/webhooks", headers=ADMIN).json()["data"]) == 2
    only = api.get("/api/v1/webhooks", params={"tenant": "globex"}, headers=ADMIN).json()["data"]
    assert [w["id"] for w in only] == [theirs["id"]] and only[0]["tenant"] == "globex"


def test_admin_creates_webhooks_for_a_named_tenant(api, tenant_key):
    created = create_webhook(api, tenant="acme")
    assert created["tenant"] == "acme"
    assert [w["id"] for w in api.get("/api/v1/webhooks", headers=tenant_key).json()["data"]] == [created["id"]]


def test_test_event_to_a_disabled_webhook_is_409(api):
    webhook = create_webhook(api, enabled=False)
    response = api.post(f"/api/v1/webhooks/{webhook['id']}/test", headers=ADMIN)
    assert response.status_code == 409 and "disabled" in response.json()["error"]["message"]


def test_custom_headers_are_validated(api):
    webhook = create_webhook(api, headers={"Authorization": "Bearer abc", "X-Team": "billing"})
    assert webhook["headers"] == {"Authorization": "••••", "X-Team": "billing"}, "a short credential is masked whole"
    for bad, field, phrase in [
        ({"webhook-signature": "x"}, "headers.webhook-signature", "set by Hookline"),
        ({"X-Webhook-Signature": "x"}, "headers.X-Webhook-Signature", "set by Hookline"),
        ({"X-Team": "{team}"}, "headers.X-Team", "unknown placeholder {team}"),
        ({"X-Team": None}, "headers.X-Team", "only a default header"),
        ({"Content-Type": "text/plain"}, "headers.Content-Type", "set by Hookline"),
        ({"Bad Name": "x"}, "headers.Bad Name", "not a valid header name"),
        ({"X-Note\n": "x"}, "headers.X-Note\n", "not a valid header name"),
        ({"X-Ok": "line\r\nInjected: 1"}, "headers.X-Ok", "visible ASCII characters, spaces and tabs only (character 5"),
        ({"X-Ok": "caf\u00e9"}, "headers.X-Ok", "(character 4 is not one)"),
        ({"X-Ok": "a\vb"}, "headers.X-Ok", "(character 2 is not one)"),
        ({"X-Ok": "a\u2028b"}, "headers.X-Ok", "(character 2 is not one)"),
        ({"X-Ok": 5}, "headers.X-Ok", "must have a string value"),
        (["X-Ok"], "headers", "must be an object"),
    ]:
        response = api.patch(f"/api/v1/webhooks/{webhook['id']}", json={"headers": bad}, headers=ADMIN)
        assert response.status_code == 422, bad
        error = response.json()["error"]
        assert error["field"] == field and phrase in error["message"], (bad, error)
    assert api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).json()["headers"] == webhook["headers"]


def test_a_header_error_never_quotes_the_value(api):
    response = api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook",
                                                 "headers": {"Authorization": "Bearer s3cr\u00e9t"}}, headers=ADMIN)
    assert response.status_code == 422 and "s3cr" not in response.text


@pytest.mark.parametrize("name", ["webhook-signature", "X-Webhook-Signature", "Content-Type", "webhook-id", "HOST"])
def test_custom_headers_cannot_override_signature_or_framing_headers(api, name):
    response = api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "headers": {name: "spoofed"}}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {"field": f"headers.{name}",
                                        "message": f"headers.{name}: {name!r} is set by Hookline and cannot be overridden"}
    assert Webhook.select().count() == 0
