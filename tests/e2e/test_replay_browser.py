"""Recover, replay and the event catalog in real headless Chromium, with the sender running."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.helpers import ADMIN, create_webhook_in_browser, dismiss_secret, set_up_admin

POLL_TIMEOUT_MS = 15_000  # the progress panel polls every 2 s


def emit(base_url: str, type_name: str = "order.created") -> str:
    response = httpx.post(f"{base_url}/api/v1/events", json={"type": type_name, "data": {}}, headers=ADMIN)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_recover_shows_progress_until_done_then_replay(new_context, hookline, receiver):
    receiver.plan("/hook", 400, 400, 200)
    page = new_context().new_page()
    set_up_admin(page)
    for name, url, event in [("Billing", receiver.url(), "order.created"), ("Archive", receiver.url("/archive"), "user.signed_up")]:
        create_webhook_in_browser(page, name, url, event)
        dismiss_secret(page)
    failed = {emit(hookline), emit(hookline)}
    receiver.wait_for(2, "/hook")

    page.goto("/webhooks")
    page.get_by_role("link", name="Billing", exact=True).click()
    expect(page.locator("#delivery-list .pill-failed")).to_have_count(2)
    page.get_by_text("Recover failed deliveries").click()
    page.get_by_role("button", name="Recover").click()
    panel = page.locator("section#recover")
    expect(panel.locator(".recover-count")).to_have_text("Done: 2 of 2 sent: 2 succeeded, 0 failed", timeout=POLL_TIMEOUT_MS)
    expect(page.locator("#delivery-list .pill-succeeded")).to_have_count(2, timeout=POLL_TIMEOUT_MS)
    assert {r.headers["webhook-id"] for r in receiver.to("/hook")[2:]} == failed and len(receiver.to("/hook")) == 4

    page.locator("#delivery-list tbody tr").first.locator("a.pill").click()
    expect(page.locator("#modal")).to_be_visible()
    page.select_option("#replay-webhook", page.locator("#replay-webhook option", has_text="Archive").get_attribute("value"))
    page.get_by_role("button", name="Replay").click()
    expect(page.locator("#toasts")).to_contain_text("Replay to Archive queued")
    (replayed,) = receiver.wait_for(1, "/archive")
    assert replayed.headers["webhook-id"] in failed


def settled(page, focused: str = "#et-name") -> None:
    """htmx moves focus to the swapped form's [autofocus] field when the swap settles, and
    after a 422 app.js moves it on to the first invalid field; filling fields before that
    races the move (typed text lands in the wrong field)."""
    expect(page.locator("#modal-body")).not_to_have_class(re.compile("htmx-settling"))
    expect(page.locator(focused)).to_be_focused()


def test_event_type_created_in_the_modal_then_archived(new_context, hookline):
    page = new_context().new_page()
    set_up_admin(page)
    page.get_by_role("link", name="Event types").click()
    expect(page).to_have_url(re.compile(r"/event-types$"))
    page.get_by_role("link", name="New event type").click()
    expect(page.locator("#modal")).to_be_visible()
    settled(page)
    page.fill("#et-name", "invoice.paid")
    page.fill("#et-example", "{oops")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#et-example-error")).to_contain_text("not valid JSON")
    settled(page, "#et-example")  # the first invalid field (issue 16, defect 9)
    page.fill("#et-example", '{"invoice_id": "in_1"}')
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#modal")).to_be_hidden()
    row = page.locator("#event-type-table tr", has_text="invoice.paid")
    expect(row).to_contain_text("active")
    row.get_by_role("link", name="Archive").click()  # asks first (issue 16, defect 10)
    page.locator("#modal").get_by_role("button", name="Archive invoice.paid").click()
    expect(page.locator("#modal")).to_be_hidden()
    expect(row).to_contain_text("archived")
    refused = httpx.post(f"{hookline}/api/v1/events", json={"type": "invoice.paid"}, headers=ADMIN)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "type"
    expect(row.get_by_role("button", name="Unarchive")).to_be_visible()
