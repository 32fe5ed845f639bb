"""The delivery contract section of the webhook form and the tenant settings page, over real
HTTP, read with bs4: each contract of issue 14's table saved through the form, delivered to
a real receiver and verified by docs/verifiers/python/verify.py (the doc's own verifier);
the preview is the request that is sent; problems show next to their field.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.rules.clock import system_clock
from app.services.users import create_first_admin, create_user
from app.storage.models import Tenant
from app.web.serializers import public_key_of
from tests.helpers import (
    ADMIN, ADMIN_PASSWORD, ADMIN_USER, create_in_dashboard, only_webhook, serving, sign_in, soup,
)

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("doc_verifier", ROOT / "docs" / "verifiers" / "python" / "verify.py")
verifier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verifier)

ORDER = {"id": "ord_1001", "total": 4990, "currency": "EUR"}
SIGNUP = {"user_id": "usr_42", "email": "ada@example.com"}
HMAC = {"signatures_set": "custom", "sig_hmac": "1", "hmac_value": "{digest}", "hmac_content": "{body}",
        "hmac_algorithm": "sha256", "hmac_encoding": "hex", "hmac_separator": "", "default_headers": "shown"}

# The five rows of the table, as someone fills in the form; what verifies each; the event it gets.
ROWS = {
    "ar-code": ({
        **HMAC, "secret": "13580b014548275833fd88fff9cac048ad723097a6c79e2aeda4f601a9231fc5",
        "hmac_header": "X-ARCode-Signature", "headers": "X-ARCode-Event: {event.type}", "send_default": ["User-Agent"],
        "retry_schedule": "0, 2s, 4s, 8s", "timeout": "10s",
    }, lambda s, r: verifier.verify_hmac_hex(s, r.body, r.headers["x-arcode-signature"]), "order.created"),
    "chat-app": ({
        **HMAC, "secret": "a3df9e556722e2ed2c8b3b3523308061dbe597312cf48c73a69d51a9939cb5ad", "events": "user.signed_up",
        "hmac_header": "X-Emergence-Signature", "hmac_value": "sha256={digest}", "send_default": [],
        "headers": "X-Emergence-Event: {event.type}\nX-Emergence-Webhook-Id: {webhook.id}\nUser-Agent: Emergence-Webhooks/1.0",
        "envelope": '{"event": "{event.type}", "timestamp": "{event.time}", "data": "{event.data}", '
                    '"user_id": "{event.data.user_id}"}',
        "retry_schedule": "0, 1m, 5m, 15m",
    }, lambda s, r: verifier.verify_hmac_prefixed(s, r.body, r.headers["x-emergence-signature"]), "user.signed_up"),
    "ops-center": ({
        **HMAC, "secret": "ops-center:correct-horse-battery-staple", "hmac_header": "X-Webhook-Signature",
        "send_default": ["User-Agent"], "retry_schedule": "0, 1m, 5m, 15m, 1h, 2h",
        "envelope": '{"event": "{event.type}", "timestamp": "{event.time}", "data": "{event.data}", '
                    '"webhook_id": "{webhook.id}"}',
    }, lambda s, r: verifier.verify_hmac_hex(s, r.body, r.headers["x-webhook-signature"]), "order.created"),
    "audit-trail": ({
        **HMAC, "secret": "whsec_abc123def456", "hmac_header": "X-Audit-Trail-Signature",
        "hmac_value": "sha256={digest}", "hmac_content": "{timestamp}.{body}", "send_default": ["User-Agent"],
        "headers": "X-Audit-Trail-Timestamp: {timestamp}\nX-Audit-Trail-Delivery-Id: {delivery.id}",
        "envelope": '{"id": "{delivery.id}", "type": "{event.type}", "timestamp": "{event.time}", '
                    '"tenantId": "{tenant}", "data": "{event.data}"}',
        "retry_schedule": "0, 1m, 5m, 30m, 2h", "auto_disable_rule": "attempts", "auto_disable_failures": "5",
    }, lambda s, r: verifier.verify_hmac_timestamped(s, r.body, r.headers["x-audit-trail-timestamp"],
                                                      r.headers["x-audit-trail-signature"]), "order.created"),
    "e-commerce": ({
        **HMAC, "secret": "shop-42-webhook-secret", "hmac_header": "X-Webhook-Signature", "hmac_value": "sha256={digest}",
        "send_default": ["User-Agent", "X-Webhook-Event", "X-Webhook-Timestamp"],
        "envelope": '{"event": "{event.type}", "timestamp": "{event.time}", "data": "{event.data}", '
                    '"shop": {"id": 42, "name": "Example Shop"}}',
        "retry_schedule": "0, 1m, 5m, 30m, 2h",
    }, lambda s, r: verifier.verify_hmac_prefixed(s, r.body, r.headers["x-webhook-signature"]), "order.created"),
}


@pytest.fixture
def live(settings):
    """Hookline with its sender running on the real clock, and the admin signed in."""
    with serving(settings, system_clock, run_sender=True) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, system_clock())
        yield client, sign_in(client)


def emit(client: httpx.Client, type_name: str, data: dict) -> None:
    assert client.post("/api/v1/events", json={"type": type_name, "data": data}, headers=ADMIN).status_code == 202


def preview_of(response: httpx.Response) -> tuple[dict[str, str], bytes]:
    """The headers and body the preview shows."""
    text = soup(response).select_one("#contract-preview-request").text
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")[1:]  # after "POST <url>"
    return dict(line.split(": ", 1) for line in lines), body.encode()


def test_each_contract_saved_through_the_form_is_delivered_and_verifies(live, receiver):
    """All five rows on one Hookline: each webhook gets the events it subscribes to."""
    client, dashboard = live
    for row, (form, _, _) in ROWS.items():
        answer = create_in_dashboard(dashboard, **{"name": row, "url": receiver.url(f"/{row}"), "events": "*", **form})
        assert answer.status_code == 201, (row, soup(answer).select(".field-error"))
        assert soup(answer).select_one("#signing-secret")["value"] == form["secret"], "the secret brought is the one shown"
    emit(client, "order.created", ORDER)
    emit(client, "user.signed_up", SIGNUP)

    stored = {w["name"]: w for w in client.get("/api/v1/webhooks", headers=ADMIN).json()["data"]}
    for row, (form, verify, event) in ROWS.items():
        request = next(r for r in receiver.wait_for(1 if row == "chat-app" else 2, f"/{row}")
                       if event in r.body.decode())
        assert verify(form["secret"], request), row
        assert not verify("another-secret-of-the-same-shape", request), row
        assert stored[row]["signatures"][0]["header"] == form["hmac_header"], row
        for line in filter(None, form.get("headers", "").split("\n")):
            assert line.split(": ")[0].lower() in request.headers, (row, line)
        dropped = {"User-Agent", "X-Webhook-Event", "X-Webhook-Timestamp"} - set(form["send_default"])
        assert not any(name.lower() in request.headers for name in dropped if name not in form.get("headers", "")), row
        if "envelope" in form:
            assert list(json.loads(request.body)) == list(json.loads(form["envelope"])), row


def test_the_preview_is_the_request_the_receiver_gets(live, receiver):
    client, dashboard = live
    form, verify, _ = ROWS["audit-trail"]
    fields = {"name": "audit", "url": receiver.url("/audit"), "events": "*", **form}
    headers, body = preview_of(dashboard.post("/webhooks/preview", fields, htmx=True))
    assert verify(form["secret"], type("Request", (), {"body": body, "headers": {k.lower(): v for k, v in headers.items()}}))

    assert create_in_dashboard(dashboard, **fields).status_code == 201
    emit(client, "order.created", ORDER)
    (request,) = receiver.wait_for(1, "/audit")
    sent = {name: value for name, value in request.headers.items() if name not in ("host", "content-length",
                                                                                      "accept", "accept-encoding")}
    assert [name.lower() for name in headers] == list(sent)
    assert (headers["Content-Type"], headers["User-Agent"]) == (sent["content-type"], sent["user-agent"])
    assert headers["X-Audit-Trail-Delivery-Id"] == "dlv_sample" and json.loads(body)["id"] == "dlv_sample"
    assert list(json.loads(body)) == list(json.loads(request.body)) == ["id", "type", "timestamp", "tenantId", "data"]
    signed = soup(dashboard.post("/webhooks/preview", fields, htmx=True)).select_one("#contract-preview-signed").text
    assert "whsec_abc123def456" not in signed and "••••" in signed, "the secret is masked"


def test_a_preset_value_previews_each_scheme(dashboard):
    """The preview follows the fields: the default, then Stripe style, then ed25519."""
    base = {"name": "x", "url": "http://127.0.0.1:9/hook", "events": "*", "default_headers": "shown",
            "send_default": ["User-Agent", "X-Webhook-Event", "X-Webhook-Timestamp"]}
    headers, _ = preview_of(dashboard.post("/webhooks/preview", {**base, "signatures_set": "inherit"}, htmx=True))
    assert headers["X-Webhook-Signature"].startswith("sha256=") and headers["webhook-signature"].startswith("v1,")
    stripe = {**base, **HMAC, "hmac_header": "Stripe-Signature", "hmac_value": "t={timestamp},v1={digest}",
              "hmac_content": "{timestamp}.{body}", "hmac_separator": ","}
    headers, _ = preview_of(dashboard.post("/webhooks/preview", stripe, htmx=True))
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["Stripe-Signature"]) and "webhook-signature" not in headers
    response = dashboard.post("/webhooks/preview", {**base, "signatures_set": "custom", "sig_ed25519": "1"}, htmx=True)
    headers, _ = preview_of(response)
    assert headers["webhook-signature"].startswith("v1a,")
    assert "whpk_" in soup(response).select_one("#contract-preview-signed").text


PROBLEMS = [  # fields, the box that shows the problem, what its message says
    ({"hmac_header": "X-Sig", "hmac_value": "sha256="}, "ct-hmac-value", "{digest}"),
    ({"hmac_header": "Content-Type"}, "ct-hmac-header", "set by Hookline"),
    ({"hmac_header": "X-Sig", "envelope": '{"shop": {"name": "{shop.name}"}}'}, "ct-envelope", "shop.name"),
    ({"hmac_header": "X-Sig", "envelope": "[1, 2]"}, "ct-envelope", "must be a JSON object"),
    ({"hmac_header": "X-Sig", "secret": "too short"}, "ct-secret", "16 to 256"),
    ({"hmac_header": "X-Sig", "auto_disable_rule": "attempts", "auto_disable_failures": "0"}, "ct-auto-disable-failures",
     "from 1 to 1000"),
]


def test_a_problem_is_previewed_and_shown_inline_when_saving(dashboard):
    for fields, field_id, phrase in PROBLEMS:
        form = {"name": "x", "url": "http://127.0.0.1:9/hook", "events": "*", **HMAC, **fields}
        preview = soup(dashboard.post("/webhooks/preview", form, htmx=True))
        assert phrase in preview.select_one("#contract-preview-error").text, field_id

        answer = create_in_dashboard(dashboard, htmx=True, **form)
        assert answer.status_code == 422, field_id
        page = soup(answer)
        box = page.select_one(f"#{field_id}")
        assert box.find_parent(class_="field")["class"].count("has-error") == 1, field_id
        assert box["aria-invalid"] == "true" and phrase in page.select_one(f"#{field_id}-error").text, field_id
        assert page.select_one("#wh-contract").has_attr("open"), "the section with the error is open"
        assert page.select_one("#ct-hmac-header")["value"] == form["hmac_header"], "the form keeps what was typed"


def test_edit_shows_the_stored_contract_and_keeps_it(dashboard):
    form, _, _ = ROWS["chat-app"]
    assert create_in_dashboard(dashboard, **{"url": "http://127.0.0.1:9/hook", **form}).status_code == 201
    webhook = only_webhook()
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/edit"))
    assert page.select_one("#wh-contract").has_attr("open")
    assert page.select_one("input[name=signatures_set][value=custom]").has_attr("checked")
    assert page.select_one("#ct-hmac-value")["value"] == "sha256={digest}"
    assert json.loads(page.select_one("#ct-envelope").text) == json.loads(form["envelope"])
    # Its own User-Agent replaces Hookline's; the two X-Webhook headers are dropped.
    assert [box["value"] for box in page.select("input[name=send_default][checked]")] == ["User-Agent"]
    assert page.select_one("#ct-secret") is None, "an edit changes the secret by rotating it"
    headers, _ = preview_of(dashboard.post(f"/webhooks/{webhook.id}/preview", {**form, "name": "x"}, htmx=True))
    assert headers["X-Emergence-Webhook-Id"] == webhook.id

    values = {field["name"]: field.get("value", "") for field in page.select("form input[name]")
              if field.get("type") not in ("checkbox", "radio")}
    values.update({field["name"]: field.text for field in page.select("form textarea[name]")})
    values.update({field["name"]: field.select_one("option[selected]")["value"] for field in page.select("form select[name]")
                   if field.select_one("option[selected]")})
    values.update(signatures_set="custom", sig_hmac="1", events="user.signed_up")
    assert dashboard.post(f"/webhooks/{webhook.id}/edit", values).status_code == 303
    assert (only_webhook().signatures, only_webhook().envelope) == (webhook.signatures, webhook.envelope)
    assert only_webhook().dropped_headers == webhook.dropped_headers


def test_tenant_settings_are_for_admins_and_new_webhooks_inherit_them(live, receiver, clock):
    client, dashboard = live
    assert soup(dashboard.get("/webhooks")).select_one("nav a[href='/tenants/default']").text == "Tenant settings"
    page = soup(dashboard.get("/tenants/default"))
    assert page.select_one("input[name=signatures_set][value=inherit]").has_attr("checked")
    assert [b.text for b in page.select("button[data-contract-preset]")] == [
        "Hookline default", "body-only HMAC hex", "GitHub style", "Stripe style"]
    inherited = page.select_one("#tenant-inherited").text
    assert "X-Webhook-Signature" in inherited and '"rule": "deliveries"' in inherited

    stripe = {**HMAC, "hmac_header": "Stripe-Signature", "hmac_value": "t={timestamp},v1={digest}",
              "hmac_content": "{timestamp}.{body}", "hmac_separator": ",", "retry_schedule": "0, 1m"}
    headers, _ = preview_of(dashboard.post("/tenants/default/preview", stripe, htmx=True))
    assert headers["Stripe-Signature"].startswith("t=")
    assert dashboard.post("/tenants/default", stripe).status_code == 303
    assert client.get("/api/v1/tenants/default", headers=ADMIN).json()["retry_schedule"] == [0, 60]
    bad = dashboard.post("/tenants/default", {**stripe, "hmac_value": "t={timestamp}"})
    assert bad.status_code == 422 and "{digest}" in soup(bad).select_one("#ct-hmac-value-error").text

    # A new webhook without a contract of its own inherits the tenant's; one with its own keeps it.
    created = create_in_dashboard(dashboard, name="inherits", url=receiver.url("/inherits"), events="*")
    secret = soup(created).select_one("#signing-secret")["value"]
    own = create_in_dashboard(dashboard, name="own", url=receiver.url("/own"), events="*", **ROWS["ar-code"][0])
    assert (created.status_code, own.status_code) == (201, 201)
    emit(client, "order.created", ORDER)
    (inherited,) = receiver.wait_for(1, "/inherits")
    assert verifier.verify_stripe_style(secret, inherited.body, inherited.headers["stripe-signature"])
    (own,) = receiver.wait_for(1, "/own")
    assert "stripe-signature" not in own.headers
    assert verifier.verify_hmac_hex(ROWS["ar-code"][0]["secret"], own.body, own.headers["x-arcode-signature"])

    create_user("bob", "b" * 12, Tenant.get(Tenant.slug == "default"), clock())
    with httpx.Client(base_url=client.base_url) as other_client:
        other = sign_in(other_client, "bob", "b" * 12)
        assert not soup(other.get("/webhooks")).select("nav a[href^='/tenants/']")
        assert other.get("/tenants/default").status_code == 403
        assert other.post("/tenants/default", stripe).status_code == 403
        assert other.post("/tenants/default/preview", stripe, htmx=True).status_code == 403


def test_rotating_with_your_own_secret(dashboard):
    form, _, _ = ROWS["e-commerce"]
    create_in_dashboard(dashboard, **{"url": "http://127.0.0.1:9/hook", **form})
    webhook = only_webhook()
    answer = dashboard.post(f"/webhooks/{webhook.id}/rotate-secret", {"grace_seconds": "3600", "secret": "shop-42-secret-of-2027"})
    assert soup(answer).select_one("#signing-secret")["value"] == "shop-42-secret-of-2027"
    assert (only_webhook().secret, only_webhook().previous_secret) == ("shop-42-secret-of-2027", form["secret"])

    public_key = soup(answer).select_one("#public-key")["value"]
    assert public_key.startswith("whpk_") and public_key == public_key_of(only_webhook()), "the new key pair's"

    refused = dashboard.post(f"/webhooks/{webhook.id}/rotate-secret", {"secret": "short"}, htmx=True)
    assert refused.status_code == 204 and "16 to 256" in refused.headers["HX-Trigger"]
    assert only_webhook().secret == "shop-42-secret-of-2027"


@pytest.mark.parametrize("payload_format, template", [
    ("slack", ""), ("discord", ""), ("teams", ""),
    ("standard", '{"kind": {{ event.type | tojson }}, "id": {{ event.data.id | tojson }}}'),
])
def test_a_chat_format_or_a_template_previews_the_body_it_sends(live, receiver, payload_format, template):
    """The body shown is the message the receiver gets, signed over it; not the envelope it never sees."""
    client, dashboard = live
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    fields = {"name": "chat", "url": receiver.url("/chat"), "events": "order.created", "secret": secret,
              "payload_format": payload_format, "payload_template": template}
    headers, body = preview_of(dashboard.post("/webhooks/preview", fields, htmx=True))
    Webhook(secret).verify(body, {name.lower(): value for name, value in headers.items()})

    assert create_in_dashboard(dashboard, **fields).status_code == 201
    emit(client, "order.created", ORDER)
    (request,) = receiver.wait_for(1, "/chat")
    shown, sent = json.loads(body), json.loads(request.body)
    assert "data" not in shown and list(shown) == list(sent), (shown, sent)
    if template:
        assert shown == {"kind": "order.created", "id": "ord_1001"} == sent  # the catalog's example is ORDER's id
