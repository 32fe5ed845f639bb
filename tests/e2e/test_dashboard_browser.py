"""A new user's journey through the dashboard in real headless Chromium.

Set HOOKLINE_SCREENSHOTS=1 to also refresh the README's screenshots in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.e2e.conftest import PHONE

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page: Page, name: str) -> None:
    if os.environ.get("HOOKLINE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png")


def set_up_admin(page: Page) -> None:
    page.goto("/webhooks")
    expect(page).to_have_url(re.compile(r"/setup$"))
    page.fill("#name", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#password_confirm", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".empty-state")).to_contain_text("calls with an HTTP POST")


def open_create_modal(page: Page) -> None:
    page.locator(".page-header").get_by_role("link", name="Create webhook").click()
    expect(page.locator("#modal")).to_be_visible()
    # htmx focuses the [autofocus] field when the swap settles; typing before that would
    # race the focus move (a human is not that fast).
    expect(page.locator("#modal-body")).not_to_have_class(re.compile("htmx-settling"))
    expect(page.locator("#wh-name")).to_be_focused()  # keyboard users can start typing at once


def create_webhook(page: Page, name: str, url: str, event: str = "order.created") -> None:
    open_create_modal(page)
    modal = page.locator("#modal")
    page.fill("#wh-name", name)
    page.fill("#wh-url", url)
    page.uncheck("input[data-all-events]")
    page.check(f"input[name=events][value='{event}']")
    modal.get_by_role("button", name="Create webhook").click()


def row(page: Page, name: str):
    return page.locator("#webhook-table tbody tr").filter(has=page.locator(f"input[name=name][value='{name}']"))


def test_new_user_journey(page: Page, receiver):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    set_up_admin(page)

    create_webhook(page, "Billing service", receiver.url())
    secret_input = page.locator("#signing-secret")
    expect(secret_input).to_have_value(re.compile(r"^whsec_"))
    secret = secret_input.input_value()
    expect(page.locator("#modal")).to_contain_text("you will not see this secret again")
    screenshot(page, "create-secret-desktop")
    copy = page.locator("[data-copy-target=signing-secret]")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.locator("#modal").get_by_role("link", name="Done").click()
    expect(page.locator("#modal")).to_be_hidden()
    billing = row(page, "Billing service")
    expect(billing).to_contain_text("order.created")
    expect(page.locator("body")).not_to_contain_text(secret)

    # Off, still off after a reload, then on again: no page reload needed for the switch.
    billing.locator(".toggle").click()
    expect(billing).to_contain_text("Disabled")
    page.reload()
    expect(row(page, "Billing service")).to_contain_text("Disabled")
    row(page, "Billing service").locator(".toggle").click()
    expect(row(page, "Billing service")).to_contain_text("Enabled")

    row(page, "Billing service").get_by_role("button", name="Send test").click()
    expect(page.locator(".toast").last).to_contain_text(re.compile(r"Delivered: 200 in \d+ ms"))
    (request,) = receiver.wait_for(1)
    assert StandardWebhook(secret).verify(request.body, request.headers)["type"] == "webhook.test"
    screenshot(page, "list-desktop")

    # The delivery log shows it; a click opens its attempts.
    row(page, "Billing service").get_by_role("link", name="Log").click()
    expect(page.locator("#delivery-list .pill").first).to_have_text("succeeded")
    screenshot(page, "delivery-log-desktop")
    page.locator("#delivery-list .pill").first.click()
    attempt = page.locator("#modal section.attempt")
    expect(attempt).to_contain_text("Attempt 1")
    expect(attempt).to_contain_text("200")
    page.keyboard.press("Escape")
    expect(page.locator("#modal")).to_be_hidden()

    # An invalid URL: inline error by the field, the rest of the form kept.
    page.goto("/webhooks")
    open_create_modal(page)
    page.fill("#wh-name", "Broken")
    page.fill("#wh-url", "ftp://example.com/x")
    page.locator("#modal").get_by_role("button", name="Create webhook").click()
    expect(page.locator("#wh-url-error")).to_contain_text("https://")
    expect(page.locator("#wh-name")).to_have_value("Broken")
    page.keyboard.press("Escape")

    # Delete, after confirming.
    page.once("dialog", lambda dialog: dialog.accept())
    row(page, "Billing service").get_by_role("link", name="Delete").click()
    expect(row(page, "Billing service")).to_have_count(0)
    expect(page.locator(".toast").last).to_contain_text("Webhook deleted")


def test_phone_width_shows_cards_and_a_fitting_modal(page: Page, receiver):
    page.set_viewport_size(PHONE)
    set_up_admin(page)
    create_webhook(page, "Phone hook", receiver.url())
    expect(page.locator("#signing-secret")).to_be_visible()
    box = page.locator("#modal").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "create-secret-phone")
    page.locator("#modal").get_by_role("link", name="Done").click()
    expect(row(page, "Phone hook")).to_be_visible()
    expect(page.locator("#webhook-table thead")).to_be_hidden()
    cell = row(page, "Phone hook").locator("td[data-label=Events]")
    assert cell.bounding_box()["width"] > PHONE["width"] * 0.7, "cells stack as a card"
    row(page, "Phone hook").get_by_role("button", name="Send test").click()
    expect(page.locator(".toast").last).to_contain_text("Delivered")
    screenshot(page, "list-phone")
    row(page, "Phone hook").get_by_role("link", name="Log").click()
    expect(page.locator("#delivery-list .pill").first).to_have_text("succeeded")
    screenshot(page, "delivery-log-phone")


def test_core_path_works_without_javascript(browser, hookline, receiver):
    context = browser.new_context(java_script_enabled=False, base_url=hookline)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        set_up_admin(page)
        page.locator(".page-header").get_by_role("link", name="Create webhook").click()
        expect(page).to_have_url(re.compile(r"/webhooks/new$"))
        page.fill("#wh-name", "No JS")
        page.fill("#wh-url", receiver.url())
        page.get_by_role("button", name="Create webhook").click()
        expect(page.locator("#signing-secret")).to_have_value(re.compile(r"^whsec_"))
        page.get_by_role("link", name="Done").click()
        row(page, "No JS").get_by_role("button", name="Send test").click()
        expect(page.locator(".banner")).to_contain_text("Delivered: 200")
        row(page, "No JS").get_by_role("link", name="Delete").click()
        page.get_by_role("button", name="Delete webhook").click()
        expect(page.locator(".banner")).to_contain_text("Webhook deleted")
        expect(row(page, "No JS")).to_have_count(0)
    finally:
        context.close()
