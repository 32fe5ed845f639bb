"""Delivery contracts through the API, seen by real receivers on 127.0.0.1 that verify with
their own hand-written code: the five systems of issue 14, configured as their docs
describe them, then the default contract, ed25519, rotations, tenant defaults and the
input the API refuses.

The clock is the test's (the engine sweeps at its time), so retry schedules are checked
by moving it, and auto-disable by answering 500, without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.helpers import ADMIN, create_webhook, key_for

pytestmark = pytest.mark.anyio

EVENT_DATA = {"order_id": "ord_1", "total": 12.5, "user_id": 42, "items": [{"sku": "A-1", "qty": 2}]}
# Added by the HTTP client, not by the contract.
TRANSPORT_HEADERS = {"host", "content-length", "accept", "accept-encoding"}


@pytest.fixture
def settings(settings):
    """Leases long enough for the 30 s timeout one of the contracts asks for."""
    return settings.replace(lease_seconds=120)


@pytest.fixture
async def engine(api, make_engine):
    return await make_engine()


def contract_headers(request) -> dict[str, str]:
    return {name: value for name, value in request.headers.items() if name not in TRANSPORT_HEADERS}


def emit(api, key=ADMIN, data=EVENT_DATA, **extra) -> str:
    response = api.post("/api/v1/events", json={"type": "order.created", "data": data, **extra}, headers=key)
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def deliver(api, engine, receiver, path: str, key=ADMIN, **extra):
    """Emit one event, send what is due, and return what `path` received last and the event."""
    event_id = emit(api, key, **extra)
    await engine.run()
    return receiver.to(path)[-1], api.get(f"/api/v1/events/{event_id}", headers=ADMIN).json()


def only_delivery(api, webhook_id: str) -> dict:
    (delivery,) = api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=ADMIN).json()["data"]
    return delivery


def event_time(event: dict) -> str:
    """The event's time as `{event.time}` writes it: ISO 8601 UTC with microseconds."""
    return datetime.fromisoformat(event["created_at"].replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def retries_at(api, engine, clock, webhook_id: str, key=ADMIN) -> list[float]:
    """Emit one event that the receiver keeps failing, and follow its delivery: the wait
    before each retry (no jitter in tests), until it has failed for good."""
    emit(api, key)
    await engine.run()
    delivery_id = api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=ADMIN).json()["data"][0]["id"]
    waits = []
    for _ in range(25):
        delivery = api.get(f"/api/v1/deliveries/{delivery_id}", headers=ADMIN).json()
        if delivery["status"] != "pending":
            break
        wait = (datetime.fromisoformat(delivery["next_attempt_at"].replace("Z", "+00:00")) - clock()).total_seconds()
        waits.append(wait)
        clock.advance(wait)
        assert await engine.run() == 1
    assert delivery["status"] == "failed" and delivery["attempts"] == len(waits) + 1
    return waits


# -- the five contracts of issue 14 --------------------------------------------------------

async def test_ar_code_platform_body_only_hex_hmac(api, engine, receiver, clock):
    """`X-ARCode-Signature: <hex HMAC-SHA256(secret, body)>`, `X-ARCode-Event`, Hookline's
    envelope, a `secrets.token_hex(32)` secret; 3 retries at 2, 4, 8 s; 10 s timeout."""
    secret = secrets.token_hex(32)
    webhook = create_webhook(api, url=receiver.url("/arcode"), secret=secret, timeout="10s",
                             signatures=[{"scheme": "hmac", "header": "X-ARCode-Signature"}],
                             headers={"X-ARCode-Event": "{event.type}"}, retry_schedule=[0, "2s", "4s", "8s"])
    assert webhook["secret"] == secret and webhook["timeout"] == 10
    request, event = await deliver(api, engine, receiver, "/arcode")

    # The receiver's own check, as its docs write it.
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["x-arcode-signature"])
    assert json.loads(request.body) == {"id": event["id"], "type": "order.created", "timestamp": event_time(event),
                                        "data": EVENT_DATA}
    assert contract_headers(request) == {
        "content-type": "application/json", "user-agent": request.headers["user-agent"],
        "x-webhook-event": "order.created", "x-webhook-timestamp": request.headers["x-webhook-timestamp"],
        "x-arcode-event": "order.created", "x-arcode-signature": expected,
    }
    assert request.headers["user-agent"].startswith("Hookline/")

    receiver.plan("/arcode", 500)
    assert await retries_at(api, engine, clock, webhook["id"]) == [2, 4, 8]


async def test_chat_app_prefixed_hmac_own_headers_user_agent_and_envelope(api, engine, receiver, clock):
    """`X-Emergence-Signature: sha256=<hex HMAC(secret, body)>`, `X-Emergence-Event`,
    `X-Emergence-Webhook-Id`, `User-Agent: Emergence-Webhooks/1.0`, the envelope
    `{"event","timestamp","data","user_id"}`; retries at 1, 5, 15 min."""
    secret = secrets.token_hex(32)
    webhook = create_webhook(
        api, url=receiver.url("/chat"), secret=secret,
        signatures=[{"scheme": "hmac", "header": "X-Emergence-Signature", "value": "sha256={digest}"}],
        headers={"X-Emergence-Event": "{event.type}", "X-Emergence-Webhook-Id": "{webhook.id}",
                 "User-Agent": "Emergence-Webhooks/1.0", "X-Webhook-Event": None, "X-Webhook-Timestamp": None},
        envelope={"event": "{event.type}", "timestamp": "{event.time}", "data": "{event.data}",
                  "user_id": "{event.data.user_id}"},
        retry_schedule=[0, "1m", "5m", "15m"],
    )
    assert webhook["headers"]["X-Webhook-Event"] is None, "a dropped default reads back as null"
    request, event = await deliver(api, engine, receiver, "/chat")

    # Node's way: the parsed body, stringified again, is what they sign; it has to match.
    assert json.dumps(json.loads(request.body), separators=(",", ":")).encode() == request.body
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["x-emergence-signature"])
    assert json.loads(request.body) == {"event": "order.created", "timestamp": event_time(event), "data": EVENT_DATA,
                                        "user_id": 42}
    assert contract_headers(request) == {
        "content-type": "application/json", "user-agent": "Emergence-Webhooks/1.0",
        "x-emergence-event": "order.created", "x-emergence-webhook-id": webhook["id"],
        "x-emergence-signature": expected,
    }
    receiver.plan("/chat", 503)
    assert await retries_at(api, engine, clock, webhook["id"]) == [60, 300, 900]


async def test_saas_ops_center_any_text_secret_and_webhook_id_in_the_envelope(api, engine, receiver, clock):
    """`X-Webhook-Signature: <hex HMAC(secret, body)>` (no prefix, Hookline's own header
    name with another scheme), `{"event","timestamp","data","webhook_id"}`, any text as
    the secret; retries at 1 min, 5 min, 15 min, 1 h, 2 h; 30 s timeout."""
    secret = "ops-center:shared/secret#2019"
    webhook = create_webhook(
        api, url=receiver.url("/ops"), secret=secret, timeout=30,
        signatures=[{"scheme": "hmac", "header": "X-Webhook-Signature"}],
        envelope={"event": "{event.type}", "timestamp": "{event.time}", "data": "{event.data}",
                  "webhook_id": "{webhook.id}"},
        retry_schedule=[0, "1m", "5m", "15m", "1h", "2h"],
    )
    request, event = await deliver(api, engine, receiver, "/ops")
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["x-webhook-signature"])
    assert "webhook-signature" not in request.headers, "the standard scheme is not in this contract"
    assert json.loads(request.body) == {"event": "order.created", "timestamp": event_time(event), "data": EVENT_DATA,
                                        "webhook_id": webhook["id"]}
    receiver.plan("/ops", 500)
    assert await retries_at(api, engine, clock, webhook["id"]) == [60, 300, 900, 3600, 7200]


@pytest.mark.postgres
async def test_audit_trail_timestamped_hmac_delivery_id_and_disabled_after_5_failed_attempts(
        api, engine, receiver, clock):
    """`X-Audit-Trail-Signature: sha256=<hex HMAC(secret, "{timestamp}.{body}")>`,
    `X-Audit-Trail-Timestamp`, `X-Audit-Trail-Delivery-Id`, `{"id": <delivery id>, "type",
    "timestamp", "tenantId", "data"}`, a user-supplied `whsec_abc123def456`; immediate,
    1 min, 5 min, 30 min, 2 h; disabled after 5 failed attempts (in a row, any delivery)."""
    secret = "whsec_abc123def456"
    webhook = create_webhook(
        api, url=receiver.url("/audit"), secret=secret, tenant="acme",
        signatures=[{"scheme": "hmac", "header": "X-Audit-Trail-Signature", "value": "sha256={digest}",
                     "content": "{timestamp}.{body}"}],
        headers={"X-Audit-Trail-Timestamp": "{timestamp}", "X-Audit-Trail-Delivery-Id": "{delivery.id}"},
        envelope={"id": "{delivery.id}", "type": "{event.type}", "timestamp": "{event.time}", "tenantId": "{tenant}",
                  "data": "{event.data}"},
        retry_schedule=[0, "1m", "5m", "30m", "2h"], auto_disable={"rule": "attempts", "failures": 5},
    )
    assert webhook["auto_disable"] == {"rule": "attempts", "failures": 5}
    request, event = await deliver(api, engine, receiver, "/audit", tenant="acme")
    delivery_id = only_delivery(api, webhook["id"])["id"]

    timestamp = request.headers["x-audit-trail-timestamp"]
    assert abs(int(timestamp) - clock().timestamp()) < 1
    signed = f"{timestamp}.{request.body.decode()}"
    expected = "sha256=" + hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["x-audit-trail-signature"])
    assert request.headers["x-audit-trail-delivery-id"] == delivery_id
    assert json.loads(request.body) == {"id": delivery_id, "type": "order.created", "timestamp": event_time(event),
                                        "tenantId": "acme", "data": EVENT_DATA}

    # Two deliveries failing in turns: 3 + 2 failed attempts in a row, neither used up.
    receiver.plan("/audit", 500)
    emit(api, tenant="acme")
    emit(api, tenant="acme")
    await engine.run()  # attempt 1 of each: 2 in a row
    clock.advance(60)
    await engine.run()  # attempt 2 of each: 4
    hooked = api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).json()
    assert hooked["enabled"] and hooked["disabled_reason"] is None
    clock.advance(300)
    await engine.run()  # the fifth
    hooked = api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).json()
    assert not hooked["enabled"]
    assert hooked["disabled_reason"].startswith("5 attempts in a row failed")
    statuses = {d["status"] for d in api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]}
    assert "failed" not in statuses, "no delivery used its schedule up: the attempts rule did it"


async def test_e_commerce_module_static_shop_in_the_envelope_and_4xx_not_retried(api, engine, receiver, clock):
    """`X-Webhook-Signature: sha256=<hex HMAC(secret, body)>`, `X-Webhook-Event`,
    `X-Webhook-Timestamp` (Hookline's defaults), `{"event","timestamp","data","shop": {…}}`,
    a user-supplied text secret; immediate, 1 min, 5 min, 30 min, 2 h; 4xx not retried."""
    secret = "shop-module-secret-1234"
    shop = {"name": "Zoë's Café", "url": "https://shop.example", "id": 7, "live": True}
    webhook = create_webhook(
        api, url=receiver.url("/shop"), secret=secret,
        signatures=[{"scheme": "hmac", "header": "X-Webhook-Signature", "value": "sha256={digest}"}],
        envelope={"event": "{event.type}", "timestamp": "{event.time}", "data": "{event.data}", "shop": shop},
        retry_schedule=[0, "1m", "5m", "30m", "2h"],
    )
    assert webhook["envelope"]["shop"] == shop
    request, event = await deliver(api, engine, receiver, "/shop")
    # PHP's way: hash_hmac('sha256', $payload, $secret) over the raw body.
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request.headers["x-webhook-signature"])
    assert request.headers["x-webhook-event"] == "order.created"
    assert abs(int(request.headers["x-webhook-timestamp"]) - clock().timestamp()) < 1
    assert json.loads(request.body) == {"event": "order.created", "timestamp": event_time(event), "data": EVENT_DATA,
                                        "shop": shop}
    receiver.plan("/shop", 400)
    emit(api)
    await engine.run()
    clock.advance(86400)
    assert await engine.run() == 0
    statuses = [d["status"] for d in api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]]
    assert statuses == ["failed", "succeeded"]


# -- the default contract, ed25519, rotations ----------------------------------------------

async def test_the_official_library_still_verifies_default_deliveries(api, engine, receiver):
    webhook = create_webhook(api, url=receiver.url("/default"))
    assert webhook["signatures"] is None and webhook["envelope"] is None
    request, event = await deliver(api, engine, receiver, "/default")
    verified = StandardWebhook(webhook["secret"]).verify(request.body, request.headers)
    assert verified == {"id": event["id"], "type": "order.created", "timestamp": event_time(event), "data": EVENT_DATA}
    assert set(contract_headers(request)) == {"content-type", "user-agent", "webhook-id", "webhook-timestamp",
                                              "webhook-signature", "x-webhook-event", "x-webhook-timestamp",
                                              "x-webhook-signature"}


async def test_default_headers_set_to_null_are_not_sent_at_all(api, engine, receiver):
    secret = "a-receivers-own-secret"
    create_webhook(api, url=receiver.url("/bare"), secret=secret, signatures=[{"scheme": "hmac", "header": "X-Sig"}],
                   headers={"User-Agent": None, "X-Webhook-Event": None, "X-Webhook-Timestamp": None})
    request, _ = await deliver(api, engine, receiver, "/bare")
    assert contract_headers(request) == {
        "content-type": "application/json",
        "x-sig": hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest(),
    }, "not even the HTTP client's own User-Agent"


def verifies_ed25519(whpk: str, request) -> bool:
    """The receiver's v1a check with the public key: any `v1a,` signature of "{id}.{timestamp}.{body}"."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk.removeprefix("whpk_")))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    for item in request.headers["webhook-signature"].split(" "):
        version, _, signature = item.partition(",")
        try:
            if version == "v1a":
                key.verify(base64.b64decode(signature), signed)
                return True
        except InvalidSignature:
            pass
    return False


async def test_ed25519_deliveries_verify_with_the_public_key_and_either_key_during_a_rotation(
        api, engine, receiver, clock):
    webhook = create_webhook(api, url=receiver.url("/ed"), signatures=[{"scheme": "ed25519"}])
    first_key = webhook["public_key"]
    assert first_key.startswith("whpk_")
    assert api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).json()["public_key"] == first_key
    request, _ = await deliver(api, engine, receiver, "/ed")
    assert request.headers["webhook-signature"].startswith("v1a,") and " " not in request.headers["webhook-signature"]
    assert verifies_ed25519(first_key, request)
    assert "x-webhook-signature" not in request.headers

    rotated = api.post(f"/api/v1/webhooks/{webhook['id']}/rotate-secret", json={"grace_seconds": 3600},
                       headers=ADMIN).json()
    second_key = rotated["public_key"]
    assert second_key != first_key
    request, _ = await deliver(api, engine, receiver, "/ed")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verifies_ed25519(first_key, request) and verifies_ed25519(second_key, request)

    clock.advance(3600)
    request, _ = await deliver(api, engine, receiver, "/ed")
    assert verifies_ed25519(second_key, request) and not verifies_ed25519(first_key, request)


@pytest.mark.parametrize("separator", [None, ","])
async def test_hmac_rotation_with_a_secret_brought_to_rotate_secret(api, engine, receiver, separator):
    """Without a separator the header holds the new secret's value alone (what a whole-header
    compare can check); with one, a value per live secret, which a receiver that splits
    the header verifies with either secret."""
    old = "the-old-secret-0123456789"
    scheme = {"scheme": "hmac", "header": "X-Sig", "value": "sha256={digest}"}
    if separator:
        scheme["separator"] = separator
    webhook = create_webhook(api, url=receiver.url("/rot"), secret=old, signatures=[scheme])
    new = "the-new-secret-9876543210"
    rotated = api.post(f"/api/v1/webhooks/{webhook['id']}/rotate-secret", json={"secret": new, "grace_seconds": 600},
                       headers=ADMIN)
    assert rotated.status_code == 200 and rotated.json()["secret"] == new
    request, _ = await deliver(api, engine, receiver, "/rot")

    def digest(secret: str) -> str:
        return "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()

    header = request.headers["x-sig"]
    if separator is None:
        assert hmac.compare_digest(header, digest(new))
    else:
        values = header.split(separator)
        assert values == [digest(new), digest(old)]
        for secret in (new, old):
            assert any(hmac.compare_digest(value, digest(secret)) for value in values)


# -- tenant defaults -------------------------------------------------------------------------

@pytest.mark.postgres
async def test_a_tenant_default_is_inherited_by_a_new_webhook_and_overridden_by_its_own(api, engine, receiver, clock):
    acme = key_for("acme", clock)
    defaults = {"signatures": [{"scheme": "hmac", "header": "X-Acme-Signature", "value": "v1={digest}"}],
                "envelope": {"kind": "{event.type}", "body": "{event.data}"},
                "auto_disable": {"rule": "never"}, "retry_schedule": [0, "10s"]}
    patched = api.patch("/api/v1/tenants/acme", json=defaults, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    read = api.get("/api/v1/tenants/acme", headers=acme).json()
    assert {key: read[key] for key in defaults} == {**defaults, "signatures": [{
        **defaults["signatures"][0], "content": "{body}", "algorithm": "sha256", "encoding": "hex"}],
        "retry_schedule": [0, 10]}
    assert read["inherited"]["signatures"][0] == {"scheme": "standard"}

    inheriting = create_webhook(api, url=receiver.url("/inherits"), key=acme, secret="acme-shared-secret-01")
    own = create_webhook(api, url=receiver.url("/own"), key=acme, signatures=[{"scheme": "standard"}],
                         envelope={"only": "{event.id}"})
    event_id = emit(api, acme)
    await engine.run()
    (inherited,), (overridden,) = receiver.to("/inherits"), receiver.to("/own")

    expected = "v1=" + hmac.new(b"acme-shared-secret-01", inherited.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, inherited.headers["x-acme-signature"])
    assert "webhook-signature" not in inherited.headers
    assert json.loads(inherited.body) == {"kind": "order.created", "body": EVENT_DATA}

    StandardWebhook(own["secret"]).verify(overridden.body, overridden.headers)
    assert "x-acme-signature" not in overridden.headers
    assert json.loads(overridden.body) == {"only": event_id}

    # The tenant's schedule too: one retry, 10 s later.
    receiver.plan("/inherits", 500)
    emit(api, acme)
    await engine.run()
    clock.advance(10)
    assert await engine.run() == 1
    assert {d["status"] for d in api.get(f"/api/v1/webhooks/{inheriting['id']}/deliveries",
                                         headers=ADMIN).json()["data"]} == {"failed", "succeeded"}

    # Back to the installation's contract, whose standard scheme the inheriting webhook's
    # secret cannot sign: refused, naming it.
    refused = api.patch("/api/v1/tenants/acme", json={"signatures": None}, headers=ADMIN)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "signatures" and inheriting["id"] in refused.json()["error"]["message"]


def test_tenant_defaults_are_read_by_its_own_key_and_changed_by_admin_keys_only(api, clock):
    acme, globex = key_for("acme", clock), key_for("globex", clock)
    assert api.get("/api/v1/tenants/acme", headers=acme).status_code == 200
    assert api.get("/api/v1/tenants/acme", headers=globex).status_code == 403
    assert api.patch("/api/v1/tenants/acme", json={"envelope": None}, headers=acme).status_code == 403
    assert api.get("/api/v1/tenants/nobody", headers=ADMIN).status_code == 404
    created = api.patch("/api/v1/tenants/newco", json={"retry_schedule": [0, "1m"]}, headers=ADMIN)
    assert created.status_code == 200 and created.json()["retry_schedule"] == [0, 60]
    refused = api.patch("/api/v1/tenants/acme", json={"headers": {}}, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "headers"


# -- bad input --------------------------------------------------------------------------------

HMAC = {"scheme": "hmac", "header": "X-Sig"}


@pytest.mark.parametrize(("fields", "field", "phrase"), [
    ({"headers": {"Content-Length": "5"}}, "headers.Content-Length", "set by Hookline"),
    ({"signatures": [{**HMAC, "header": "Transfer-Encoding"}]}, "signatures[0].header", "set by Hookline"),
    ({"signatures": [HMAC], "headers": {"x-sig": "spoof"}}, "headers.x-sig", "set by Hookline"),
    ({"signatures": [{"scheme": "standard"}, {**HMAC, "value": "sha256="}]}, "signatures[1].value", "{digest}"),
    ({"signatures": [{**HMAC, "algorithm": "md5"}]}, "signatures[0].algorithm", "sha256, sha1, sha512"),
    ({"signatures": [{**HMAC, "encoding": "base32"}]}, "signatures[0].encoding", "hex, base64"),
    ({"signatures": "standard"}, "signatures", "list of 1 to 5"),
    ({"envelope": ["{event.data}"]}, "envelope", "must be a JSON object"),
    ({"envelope": {"shop": {"name": "{shop.name}"}}}, "envelope.shop.name", "unknown placeholder {shop.name}"),
    ({"envelope": {"sent": "{timestamp}"}}, "envelope.sent", "same bytes at every retry"),
    ({"headers": {"X-Event": "{event.name}"}}, "headers.X-Event", "unknown placeholder {event.name}"),
    ({"secret": "0123456789abcdef"}, "secret", "the standard scheme needs a Standard Webhooks secret"),
    ({"secret": "0123456789abcdef", "signatures": [{"scheme": "standard"}, HMAC]}, "secret", "whsec_"),
    ({"secret": "short"}, "secret", "16 to 256"),
    ({"auto_disable": {"rule": "attempts", "failures": 0}}, "auto_disable.failures", "1 to 1000"),
])
def test_bad_contracts_are_422_naming_the_field(api, fields, field, phrase):
    response = api.post("/api/v1/webhooks", json={"url": "https://example.com/hook", **fields}, headers=ADMIN)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert phrase in error["message"]


@pytest.mark.postgres
def test_a_change_that_the_secret_cannot_sign_is_refused(api):
    plain = "0123456789abcdef"
    webhook = create_webhook(api, secret=plain, signatures=[HMAC])
    response = api.patch(f"/api/v1/webhooks/{webhook['id']}", json={"signatures": None}, headers=ADMIN)
    assert response.status_code == 422, "it would inherit Hookline's standard scheme"
    assert response.json()["error"]["field"] == "signatures"

    standard = create_webhook(api, url="https://example.com/standard")
    response = api.post(f"/api/v1/webhooks/{standard['id']}/rotate-secret", json={"secret": plain}, headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == "secret"

    assert api.patch("/api/v1/tenants/acme", json={"signatures": [HMAC]}, headers=ADMIN).status_code == 200
    inheriting = create_webhook(api, url="https://example.com/acme", tenant="acme", secret=plain)
    response = api.patch("/api/v1/tenants/acme", json={"signatures": [{"scheme": "standard"}]}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "signatures" and inheriting["id"] in response.json()["error"]["message"]


async def test_a_stored_secret_that_cannot_sign_its_contract_fails_the_attempt_saying_so(api, engine, receiver):
    """A row saved before the rules (or changed by hand): nothing goes out unsigned."""
    from app.storage.models import Webhook

    webhook = create_webhook(api, url=receiver.url("/unsigned"))
    Webhook.update(secret="plain-secret-0123456789").where(Webhook.id == webhook["id"]).execute()
    emit(api)
    await engine.run()
    assert receiver.to("/unsigned") == []
    delivery = only_delivery(api, webhook["id"])
    assert delivery["status"] == "failed", "a permanent failure: retrying cannot help"
    assert delivery["last_error"].startswith("cannot sign: the standard scheme needs a whsec_ secret")
