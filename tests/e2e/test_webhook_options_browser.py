"""The Advanced section and the rotate action in real headless Chromium, from the list's Edit."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from app.storage.models import Webhook
from tests.helpers import create_webhook_in_browser, dismiss_secret, set_up_admin, webhook_row


def open_edit_modal(page: Page, name: str) -> None:
    webhook_row(page, name).locator("summary").click()  # Edit is in the row's menu
    webhook_row(page, name).get_by_role("link", name="Edit").click()
    expect(page.locator("#modal-title")).to_have_text(f"Edit {name}")
    expect(page.locator("#modal-body")).not_to_have_class(re.compile("htmx-settling"))


def test_edit_advanced_settings_then_rotate_in_the_modal(page, receiver):
    set_up_admin(page)
    create_webhook_in_browser(page, "Sales", receiver.url())
    dismiss_secret(page)
    open_edit_modal(page, "Sales")

    page.locator("#wh-advanced > summary").click()
    page.fill("#wh-filter", '{"all": [{"path": "data.total", "op": "like", "value": 1}]}')
    page.select_option("#wh-payload-format", "slack")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#wh-filter-error")).to_contain_text("rules[0].op: unknown operator 'like'")
    expect(page.locator("#wh-payload-format")).to_have_value("slack")  # the form is kept
    expect(page.locator("#modal-body")).not_to_have_class(re.compile("htmx-settling"))

    page.fill("#wh-filter", '{"all": [{"path": "data.total", "op": "gt", "value": 1}]}')
    page.fill("#wh-retry-schedule", "0, 5s, 5m")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#modal")).to_be_hidden()
    expect(page.locator(".toast").last).to_contain_text("Webhook saved")
    (webhook,) = Webhook.select()
    assert (webhook.payload_format, webhook.retry_schedule) == ("slack", [0, 5, 300])

    open_edit_modal(page, "Sales")
    expect(page.locator("#wh-advanced")).to_have_attribute("open", "")
    page.select_option("#rotate-grace", "3600")
    page.get_by_role("button", name="Rotate secret").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Rotate secret").click()
    expect(page.locator("#modal-title")).to_have_text("New signing secret")
    expect(page.locator("#rotation-grace")).to_contain_text("The previous secret still signs every request")
    (webhook,) = Webhook.select()
    expect(page.locator("#signing-secret")).to_have_value(webhook.secret)
    assert webhook.previous_secret and webhook.previous_secret != webhook.secret
