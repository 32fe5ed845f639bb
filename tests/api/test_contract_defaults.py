"""Contract defaults seen by a real receiver on 127.0.0.1: default headers set in config.toml
and per tenant, merged per name under a webhook's own; the delivery detail showing the body
a custom envelope rendered; an envelope refused with a chat payload format.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.rules import jsontext
from tests.helpers import ADMIN, create_webhook, key_for, soup

pytestmark = pytest.mark.anyio

# Added by the HTTP client, not by the contract.
TRANSPORT_HEADERS = {"host", "content-length", "accept", "accept-encoding"}
INSTALLATION_HEADERS = {"X-Installation": "hookline-test", "X-Overridden": "by nobody", "X-Webhook-Timestamp": None}


@pytest.fixture
def settings(settings):
    """An installation whose config.toml sets default headers, and drops one of Hookline's."""
    return settings.replace(headers=jsontext.dumps(INSTALLATION_HEADERS))


@pytest.fixture
async def engine(api, make_engine):
    return await make_engine()


def contract_headers(request) -> dict[str, str]:
    return {name: value for name, value in request.headers.items() if name not in TRANSPORT_HEADERS}


async def deliver(api, engine, key=ADMIN) -> str:
    response = api.post("/api/v1/events", json={"type": "order.created", "data": {"n": 1}}, headers=key)
    assert response.status_code == 202, response.text
    await engine.run()
    return response.json()["id"]


@pytest.mark.postgres
async def test_default_headers_merge_per_name_webhook_over_tenant_over_installation(api, engine, receiver, clock):
    acme = key_for("acme", clock)
    tenant_headers = {"X-Acme-Event": "{event.type}", "X-Overridden": "by the tenant", "User-Agent": "Acme/2.0",
                      "X-Dropped-Below": "tenant"}
    patched = api.patch("/api/v1/tenants/acme", json={"headers": tenant_headers}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    assert patched.json()["headers"] == tenant_headers
    assert patched.json()["inherited"]["headers"] == {
        "User-Agent": patched.json()["inherited"]["headers"]["User-Agent"], "X-Webhook-Event": "{event.type}",
        "X-Installation": "hookline-test", "X-Overridden": "by nobody"}

    create_webhook(api, url=receiver.url("/inherits"), key=acme, secret="acme-shared-secret-01",
                   signatures=[{"scheme": "hmac", "header": "X-Acme-Signature"}])
    own = create_webhook(api, url=receiver.url("/own"), key=acme, headers={
        "X-Overridden": "by the webhook {webhook.id}", "X-Acme-Event": None, "X-Installation": None})
    assert own["headers"] == {"X-Overridden": "by the webhook {webhook.id}", "X-Acme-Event": None,
                              "X-Installation": None}
    await deliver(api, engine, acme)
    (inherited,), (overridden,) = receiver.to("/inherits"), receiver.to("/own")

    signature = hmac.new(b"acme-shared-secret-01", inherited.body, hashlib.sha256).hexdigest()
    assert contract_headers(inherited) == {
        "content-type": "application/json", "x-webhook-event": "order.created", "x-installation": "hookline-test",
        "x-overridden": "by the tenant", "user-agent": "Acme/2.0", "x-acme-event": "order.created",
        "x-dropped-below": "tenant", "x-acme-signature": signature,
    }
    headers = contract_headers(overridden)
    assert {name: headers[name] for name in headers if not name.startswith("webhook-")} == {
        "content-type": "application/json", "x-webhook-event": "order.created", "user-agent": "Acme/2.0",
        "x-dropped-below": "tenant", "x-overridden": f"by the webhook {own['id']}",
        "x-webhook-signature": headers["x-webhook-signature"],
    }

    # Unset: the installation's again, at the next claim.
    assert api.patch("/api/v1/tenants/acme", json={"headers": None}, headers=ADMIN).json()["headers"] is None
    receiver_count = len(receiver.to("/inherits"))
    await deliver(api, engine, acme)
    assert len(receiver.to("/inherits")) == receiver_count + 1
    again = contract_headers(receiver.to("/inherits")[-1])
    assert again["x-overridden"] == "by nobody" and again["user-agent"].startswith("Hookline/")
    assert "x-acme-event" not in again and "x-webhook-timestamp" not in again


@pytest.mark.parametrize(("headers", "field", "phrase"), [
    ({"Content-Type": "text/plain"}, "headers.Content-Type", "set by Hookline"),
    ({"webhook-signature": "v1,x"}, "headers.webhook-signature", "set by Hookline"),
    ({"X-Webhook-Signature": "mine"}, "headers.X-Webhook-Signature", "set by Hookline"),
    ({"Authorization": "Bearer abc"}, "headers.Authorization", "credential"),
    ({"X-Event": "{event.kind}"}, "headers.X-Event", "event.kind"),
    ({"X bad": "1"}, "headers.X bad", "valid header name"),
    (["X-Event"], "headers", "object"),
])
def test_bad_tenant_headers_are_422_naming_the_header(api, headers, field, phrase):
    refused = api.patch("/api/v1/tenants/acme", json={"headers": headers}, headers=ADMIN)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == field and phrase in refused.json()["error"]["message"]


def test_a_webhook_drops_only_headers_it_would_send(api, receiver):
    refused = api.post("/api/v1/webhooks", json={"url": receiver.url("/x"), "headers": {"X-Never-Set": None}},
                       headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "headers.X-Never-Set"
    dropped = create_webhook(api, url=receiver.url("/x"), headers={"X-Installation": None})
    assert dropped["headers"] == {"X-Installation": None}


async def test_the_delivery_detail_shows_the_body_its_receiver_got(api, engine, receiver, dashboard):
    enveloped = create_webhook(api, url=receiver.url("/enveloped"), envelope={
        "event": "{event.type}", "at": "{event.time}", "data": "{event.data}", "delivery": "{delivery.id}",
        "note": "for {tenant}"})
    default = create_webhook(api, url=receiver.url("/default"))
    event_id = await deliver(api, engine)
    shown = {}
    for webhook, path in ((enveloped, "/enveloped"), (default, "/default")):
        (request,) = receiver.to(path)
        (listed,) = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]
        shown[path] = api.get(f"/api/v1/deliveries/{listed['id']}", headers=ADMIN).json()["payload"]
        # The same bytes, in the same order: the answer is compact JSON like the body.
        assert jsontext.dumps(shown[path]).encode() == request.body
        # The dashboard's detail shows that body too, not Hookline's envelope.
        page = soup(dashboard.get(f"/deliveries/{listed['id']}"))
        assert jsontext.loads(page.select_one("pre.payload").get_text()) == shown[path]
    assert shown["/enveloped"]["note"] == "for default" and shown["/enveloped"]["delivery"].startswith("dlv_")
    assert shown["/default"]["id"] == event_id and shown["/default"]["data"] == {"n": 1}


@pytest.mark.parametrize("payload_format", ["slack", "discord", "teams"])
def test_an_envelope_with_a_chat_format_is_422_naming_envelope(api, receiver, payload_format):
    envelope = {"event": "{event.type}"}
    refused = api.post("/api/v1/webhooks", json={"url": receiver.url("/chat"), "payload_format": payload_format,
                                                 "envelope": envelope}, headers=ADMIN)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "envelope"
    assert "standard payload format only" in refused.json()["error"]["message"]

    chat = create_webhook(api, url=receiver.url("/chat"), payload_format=payload_format)
    enveloped = create_webhook(api, url=receiver.url("/enveloped"), envelope=envelope)
    for webhook_id, change in ((chat["id"], {"envelope": envelope}), (enveloped["id"], {"payload_format": payload_format})):
        refused = api.patch(f"/api/v1/webhooks/{webhook_id}", json=change, headers=ADMIN)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "envelope"
    # Both at once, the other way round: fine.
    changed = api.patch(f"/api/v1/webhooks/{enveloped['id']}", json={"payload_format": payload_format,
                                                                     "envelope": None}, headers=ADMIN)
    assert changed.status_code == 200 and changed.json()["envelope"] is None
    assert api.get(f"/api/v1/webhooks/{chat['id']}", headers=ADMIN).json()["envelope"] is None


def test_an_envelope_with_a_payload_template_is_422_naming_envelope(api, receiver):
    """The template makes the whole body: an envelope next to it would never be sent."""
    envelope, template = {"event": "{event.type}"}, '{"kind": {{ event.type | tojson }}}'
    refused = api.post("/api/v1/webhooks", json={"url": receiver.url(), "envelope": envelope,
                                                 "payload_template": template}, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "envelope"
    assert "payload_template makes the whole body" in refused.json()["error"]["message"]

    templated = create_webhook(api, url=receiver.url(), payload_template=template)
    enveloped = create_webhook(api, url=receiver.url(), envelope=envelope)
    for webhook_id, change in ((templated["id"], {"envelope": envelope}), (enveloped["id"], {"payload_template": template})):
        refused = api.patch(f"/api/v1/webhooks/{webhook_id}", json=change, headers=ADMIN)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "envelope", refused.text
    changed = api.patch(f"/api/v1/webhooks/{enveloped['id']}", json={"payload_template": template, "envelope": None},
                        headers=ADMIN)
    assert changed.status_code == 200 and changed.json()["envelope"] is None
