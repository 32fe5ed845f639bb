"""The delivery contract section in real headless Chromium: a preset fills the fields, the
preview follows them (htmx), and the webhook saved from it signs the way the preview showed."""

from __future__ import annotations

import hashlib
import hmac
import re

import httpx
from playwright.sync_api import expect

from tests.helpers import ADMIN, fill_webhook_form, open_create_modal, set_up_admin


def test_a_preset_fills_the_fields_and_the_preview_follows(page, receiver, hookline):
    set_up_admin(page)
    open_create_modal(page)
    fill_webhook_form(page, "Shop", receiver.url())
    page.locator("#wh-contract > summary").click()
    request = page.locator("#contract-preview-request")
    expect(request).to_contain_text("X-Webhook-Signature: sha256=")  # Hookline's default, inherited
    expect(request).to_contain_text("webhook-signature: v1,")

    page.get_by_role("button", name="Stripe style").click()
    expect(page.locator("#ct-hmac-header")).to_have_value("Stripe-Signature")
    expect(page.locator("input[name=signatures_set][value=custom]")).to_be_checked()
    expect(request).to_contain_text(re.compile(r"Stripe-Signature: t=\d+,v1=[0-9a-f]{64}"))
    expect(request).not_to_contain_text("webhook-signature")

    page.get_by_role("button", name="GitHub style").click()
    expect(page.locator("#wh-headers")).to_have_value("X-GitHub-Event: {event.type}")
    expect(request).to_contain_text(re.compile(r"X-Hub-Signature-256: sha256=[0-9a-f]{64}"))
    expect(request).to_contain_text("X-GitHub-Event: order.created")

    page.fill("#ct-hmac-value", "sha256=")  # typing: the preview names the problem
    expect(page.locator("#contract-preview-error")).to_contain_text("{digest}")
    page.fill("#ct-hmac-value", "sha256={digest}")
    expect(request).to_contain_text("X-Hub-Signature-256: sha256=")

    page.locator("#modal").get_by_role("button", name="Create webhook").click()
    expect(page.locator("#modal-title")).to_have_text("Webhook created")
    secret = page.locator("#signing-secret").input_value()
    emitted = httpx.post(f"{hookline}/api/v1/events", json={"type": "order.created", "data": {"id": "ord_1"}}, headers=ADMIN)
    assert emitted.status_code == 202
    (delivered,) = receiver.wait_for(1)
    assert delivered.headers["x-github-event"] == "order.created"
    expected = "sha256=" + hmac.new(secret.encode(), delivered.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, delivered.headers["x-hub-signature-256"])
