"""A new user's journey through the dashboard in real headless Chromium.

Set HOOKLINE_SCREENSHOTS=1 to also refresh the README's screenshots in docs/screenshots/.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.helpers import (
    ADMIN_PASSWORD, ADMIN_USER, PHONE, create_webhook_in_browser, dismiss_secret, fill_webhook_form, open_create_modal,
    screenshot, set_up_admin, webhook_row,
)

def show_secret(page: Page) -> None:
    """Scroll the dialog back to the secret (see test_secret_starts_in_view_after_create)."""
    page.locator("#modal").evaluate("dialog => { dialog.scrollTop = 0; }")


def test_new_user_journey(new_context, receiver):
    page = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    set_up_admin(page)

    # Create: the secret is shown once, copied, and gone from the page after Done.
    create_webhook_in_browser(page, "Billing service", receiver.url())
    secret_input = page.locator("#signing-secret")
    expect(secret_input).to_have_value(re.compile(r"^whsec_"))
    secret = secret_input.input_value()
    expect(page.locator("#modal")).to_contain_text("you will not see this secret again")
    show_secret(page)
    screenshot(page, "create-secret-desktop")
    copy = page.locator("[data-copy-target=signing-secret]")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.locator("#modal").get_by_role("link", name="Done").click()
    expect(page.locator("#modal")).to_be_hidden()
    billing = webhook_row(page, "Billing service")
    expect(billing).to_contain_text("order.created")
    expect(billing.locator("td[data-label=URL]")).to_have_text(receiver.url())
    expect(page.locator(".empty-state")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text(secret)

    # Off, still off after a reload, then on again: the switch needs no page reload.
    switch = billing.get_by_role("switch")
    billing.locator(".toggle").click()
    expect(billing).to_contain_text("Disabled")
    expect(switch).not_to_be_checked()
    expect(billing.get_by_role("button", name="Send test")).to_be_disabled()
    page.reload()
    expect(webhook_row(page, "Billing service")).to_contain_text("Disabled")
    expect(switch).not_to_be_checked()
    webhook_row(page, "Billing service").locator(".toggle").click()
    expect(webhook_row(page, "Billing service")).to_contain_text("Enabled")
    expect(switch).to_be_checked()

    # Send test: a toast reports the first attempt; the receiver got a request signed with the secret.
    webhook_row(page, "Billing service").get_by_role("button", name="Send test").click()
    expect(page.locator(".toast").last).to_contain_text(re.compile(r"Delivered: 200 in \d+ ms"))
    (request,) = receiver.wait_for(1)
    assert StandardWebhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"
    expect(billing.locator("td[data-label='Last 24 h']")).to_contain_text("100% ok")
    screenshot(page, "list-desktop")

    # The delivery log shows it; a click opens its attempts; the detail is also a page of its own.
    webhook_row(page, "Billing service").get_by_role("link", name="Billing service").click()
    expect(page).to_have_url(re.compile(r"/webhooks/[^/]+/deliveries$"))
    delivery = page.locator("#delivery-table tbody tr").first
    expect(delivery.locator(".pill")).to_have_text("succeeded")
    expect(delivery.locator("td[data-label=Event]")).to_have_text("webhook.test")
    expect(delivery.locator("td[data-label=Attempts]")).to_have_text("1")
    expect(delivery.locator("td[data-label=Response]")).to_have_text("200")
    screenshot(page, "delivery-log-desktop")
    detail_url = delivery.locator(".pill").get_attribute("href")
    delivery.locator(".pill").click()
    attempt = page.locator("#modal section.attempt")
    expect(attempt).to_have_count(1)
    expect(attempt.get_by_role("heading", name=re.compile(r"^Attempt 1 · 200 · \d+ ms"))).to_be_visible()
    attempt.get_by_text("Request headers").click()
    expect(attempt).to_contain_text("webhook-signature: v1,")
    page.keyboard.press("Escape")
    expect(page.locator("#modal")).to_be_hidden()
    page.goto(detail_url)
    expect(page.locator("section.attempt")).to_contain_text("Attempt 1")

    # An invalid URL: a 422 with the error next to the field and the rest of the form kept.
    page.goto("/webhooks")
    open_create_modal(page)
    fill_webhook_form(page, "Broken", "ftp://x", event="order.paid")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/webhooks")) as sent:
        page.locator("#modal").get_by_role("button", name="Create webhook").click()
    assert sent.value.status == 422
    url_field = page.locator("#wh-url").locator("xpath=..")
    expect(url_field.locator(".field-error")).to_contain_text("https://")
    expect(page.locator("#wh-url")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#wh-name")).to_have_value("Broken")
    expect(page.locator("#wh-url")).to_have_value("ftp://x")
    expect(page.locator("input[name=events][value='order.paid']")).to_be_checked()
    expect(page.locator("input[name=event_choice][value=selected]")).to_be_checked()
    page.keyboard.press("Escape")
    expect(page.locator("#modal")).to_be_hidden()
    expect(webhook_row(page, "Broken")).to_have_count(0)

    # Delete, from the row's menu, after confirming in the styled dialog: the row goes, and with it the last webhook.
    webhook_row(page, "Billing service").locator("summary").click()
    webhook_row(page, "Billing service").get_by_role("button", name="Delete…").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    expect(webhook_row(page, "Billing service")).to_have_count(0)
    expect(page.locator(".toast").last).to_contain_text("Webhook deleted")
    page.reload()
    expect(page.locator(".empty-state")).to_be_visible()

    # An API key, shown once.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page).to_have_url(re.compile(r"/api-keys$"))
    page.fill("#key-name", "checkout service")
    page.get_by_role("button", name="Create API key").click()
    expect(page.locator("#new-api-key")).to_have_value(re.compile(r"^hl_"))
    prefix = page.locator("#new-api-key").input_value()[:8]
    expect(page.locator("#api-keys tbody")).to_contain_text("checkout service")
    page.reload()
    expect(page.locator("#new-api-key")).to_have_count(0)
    expect(page.locator("#api-keys tbody")).to_contain_text(prefix)

    # Sign out, sign back in.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#name", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()


def test_phone_width_shows_cards_and_a_fitting_modal(new_context, receiver):
    page = new_context(viewport=PHONE).new_page()
    set_up_admin(page)
    create_webhook_in_browser(page, "Phone hook", receiver.url())
    box = page.locator("#modal").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
    show_secret(page)
    expect(page.locator("#signing-secret")).to_be_in_viewport()
    screenshot(page, "create-secret-phone")
    dismiss_secret(page)
    expect(webhook_row(page, "Phone hook")).to_be_visible()
    expect(page.locator("#webhook-table thead")).to_be_hidden()
    cell = webhook_row(page, "Phone hook").locator("td[data-label=Events]")
    assert cell.bounding_box()["width"] > PHONE["width"] * 0.7, "cells stack as a card"
    webhook_row(page, "Phone hook").get_by_role("button", name="Send test").click()
    expect(page.locator(".toast").last).to_contain_text("Delivered: 200")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    screenshot(page, "list-phone")
    webhook_row(page, "Phone hook").get_by_role("link", name="Phone hook").click()
    expect(page.locator("#delivery-table thead")).to_be_hidden()
    expect(page.locator("#delivery-table tbody tr .pill").first).to_have_text("succeeded")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    screenshot(page, "delivery-log-phone")


def test_secret_starts_in_view_after_create(new_context, receiver):
    page = new_context(viewport=PHONE).new_page()
    set_up_admin(page)
    create_webhook_in_browser(page, "Phone hook", receiver.url())
    expect(page.locator("#signing-secret")).to_be_in_viewport(timeout=1_000)


def test_core_path_works_without_javascript(new_context, receiver):
    page = new_context(java_script_enabled=False).new_page()
    set_up_admin(page)
    page.locator(".page-header").get_by_role("link", name="Create webhook").click()
    expect(page).to_have_url(re.compile(r"/webhooks/new$"))

    # Without JavaScript the form can keep "All events" only (see test_events_can_be_picked_without_javascript).
    page.fill("#wh-name", "No JS")
    page.fill("#wh-url", "ftp://x")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.locator("#wh-url-error")).to_contain_text("https://")
    expect(page.locator("#wh-name")).to_have_value("No JS")

    page.fill("#wh-url", receiver.url())
    page.get_by_role("button", name="Create webhook").click()
    expect(page.locator("#signing-secret")).to_have_value(re.compile(r"^whsec_"))
    secret = page.locator("#signing-secret").input_value()
    page.get_by_role("link", name="Done").click()
    expect(page).to_have_url(re.compile(r"/webhooks$"))
    expect(webhook_row(page, "No JS")).to_contain_text("all events")

    webhook_row(page, "No JS").locator(".toggle").click()
    expect(webhook_row(page, "No JS").get_by_role("switch")).not_to_be_checked()
    webhook_row(page, "No JS").get_by_role("button", name="Save status", exact=True).click()
    expect(page.locator(".banner")).to_contain_text("Webhook disabled")
    expect(webhook_row(page, "No JS").get_by_role("switch")).not_to_be_checked()
    webhook_row(page, "No JS").locator(".toggle").click()
    webhook_row(page, "No JS").get_by_role("button", name="Save status", exact=True).click()
    expect(page.locator(".banner")).to_contain_text("Webhook enabled")

    webhook_row(page, "No JS").get_by_role("button", name="Send test").click()
    expect(page.locator(".banner")).to_contain_text(re.compile(r"Delivered: 200 in \d+ ms"))
    (request,) = receiver.wait_for(1)
    StandardWebhook(secret).verify(request.body, request.headers)

    webhook_row(page, "No JS").locator("summary").click()  # the row's menu: <details> opens without JavaScript
    webhook_row(page, "No JS").get_by_role("link", name="Deliveries").click()
    page.locator("#delivery-table tbody tr .pill").first.click()
    expect(page).to_have_url(re.compile(r"/deliveries/[^/]+$"))
    expect(page.locator("section.attempt")).to_contain_text("Attempt 1")

    page.goto("/webhooks")
    webhook_row(page, "No JS").locator("summary").click()
    webhook_row(page, "No JS").get_by_role("button", name="Delete…").click()
    page.get_by_role("button", name="Delete webhook").click()
    expect(page.locator(".banner")).to_contain_text("Webhook deleted")
    expect(webhook_row(page, "No JS")).to_have_count(0)


def test_events_can_be_picked_without_javascript(new_context):
    page = new_context(java_script_enabled=False).new_page()
    set_up_admin(page)
    page.goto("/webhooks/new")
    page.check("input[name=event_choice][value=selected]")
    expect(page.locator("input[name=events][value='order.created']")).to_be_enabled(timeout=1_000)
