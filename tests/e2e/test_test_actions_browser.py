"""Where a custom test and a rotation start, in real Chromium (issue 16, defect 2).

"Send a custom test event" used to sit inside the rotate-secret form: clicking it asked
"Rotate the signing secret?" and Cancel meant the test form never opened. It now sits next
to Send test, in the row's menu and on the webhook's page, and asks nothing; Rotate has a
menu item of its own that asks through the styled confirmation.
"""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import expect

from tests.helpers import DESKTOP, create_webhook, row_menu, set_up_admin


def billing(new_context, hookline, receiver):
    """A signed-in page, and the id of a webhook "Billing" to the receiver."""
    page = new_context(viewport=DESKTOP).new_page()
    set_up_admin(page)
    with httpx.Client(base_url=hookline) as api:
        webhook_id = create_webhook(api, receiver.url(), name="Billing", events=["order.created"])["id"]
    return page, webhook_id


def test_a_custom_test_opens_from_the_row_menu_without_asking_about_the_secret(new_context, hookline, receiver):
    page, _ = billing(new_context, hookline, receiver)
    page.goto("/webhooks")
    row_menu(page, "Billing").get_by_role("link", name="Send a custom test…").click()
    expect(page.locator("#modal-title")).to_have_text("Send a test event to Billing")
    expect(page.locator("#confirm-dialog")).not_to_be_visible()

    page.locator("#test-data").fill('{"id": "ord_42"}')
    page.locator("#modal").get_by_role("button", name="Send test event").click()
    (received,) = receiver.wait_for(1)
    assert json.loads(received.body)["data"] == {"id": "ord_42"}


def test_the_edit_form_rotates_without_a_test_link_and_the_menu_rotates_after_asking(new_context, hookline, receiver):
    page, _ = billing(new_context, hookline, receiver)
    page.goto("/webhooks")
    row_menu(page, "Billing").get_by_role("link", name="Edit").click()
    rotate_form = page.locator("#modal form[action$='/rotate-secret']")
    expect(rotate_form.get_by_role("button", name="Rotate secret")).to_be_visible()
    expect(rotate_form.get_by_role("link")).to_have_count(0)
    expect(page.locator("#modal").get_by_text("Send a custom test")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator("#modal")).not_to_be_visible()

    row_menu(page, "Billing").get_by_role("link", name="Rotate secret…").click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm.locator("#confirm-title")).to_have_text("Rotate the signing secret of “Billing”?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).not_to_be_visible()
    expect(page.locator("#modal")).not_to_be_visible()  # Cancel rotates nothing

    row_menu(page, "Billing").get_by_role("link", name="Rotate secret…").click()
    confirm.get_by_role("button", name="Rotate secret").click()
    expect(page.locator("#modal-title")).to_have_text("New signing secret")
    expect(page.locator("#rotation-grace")).to_contain_text("The previous secret still signs every request")


def test_the_webhook_page_offers_send_test_and_a_custom_test(new_context, hookline, receiver):
    page, webhook_id = billing(new_context, hookline, receiver)
    page.goto(f"/webhooks/{webhook_id}")
    header = page.locator(".webhook-header")
    header.get_by_role("button", name="Send test").click()
    expect(page.locator("#toasts .toast")).to_have_count(1)
    assert len(receiver.wait_for(1)) == 1
    header.get_by_role("link", name="Send a custom test…").click()
    expect(page.locator("#modal-title")).to_have_text("Send a test event to Billing")
