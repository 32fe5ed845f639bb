"""The dashboard's shared chrome in real Chromium (issue 16): toasts that can be closed,
expire, stack by three, stay clear of the last row and show over open dialogs (defect 6);
styled confirmations for every hx-confirm, an in-flight state on actions that wait on the
network, no CSP violations on any page and 44px touch targets on phones (defect 13).

Toast expiry runs on Playwright's clock (`page.clock`), never on a sleep.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
from playwright.sync_api import Page, expect

from tests.helpers import (
    ADMIN, DESKTOP, PHONE, create_webhook, emit_over_api, set_up_admin,
)

TOAST_MS, LEAVING_MS = 5000, 400  # static/app.js

# What covers the middle of an element: itself (or a child) unless something is on top of it.
ON_TOP = """element => {
  const box = element.getBoundingClientRect();
  const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return element.contains(hit);
}"""



def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def pause_clock(page: Page) -> None:
    """Timers in the page now run only on run_for (the clock was installed before the page loaded)."""
    page.clock.pause_at(datetime.now(timezone.utc) + timedelta(seconds=1))


def toggle(page: Page, webhook_id: str) -> None:
    """Switch a webhook off or on: one real request and its toast (the row swaps after 200ms)."""
    with page.expect_response(f"**/webhooks/{webhook_id}/toggle"):
        page.locator(f"#webhook-{webhook_id} .toggle").click()
    page.clock.run_for(300)


def test_toasts_stack_by_three_expire_close_and_leave_the_last_row_clear(new_context, hookline):
    page = new_context(viewport=PHONE).new_page()
    set_up_admin(page)
    with httpx.Client(base_url=hookline, headers=ADMIN) as api:
        # Port 9 refuses: its Send test ends in an error toast. A dozen rows make the page scroll.
        ids = [create_webhook(api, name=f"Hook {n}", events=["order.created"])["id"] for n in range(12)]
    page.clock.install()
    page.goto("/webhooks")
    pause_clock(page)
    toasts = page.locator("#toasts .toast")

    for _ in range(4):
        toggle(page, ids[0])
    expect(toasts).to_have_count(3)  # the oldest of four went
    expect(toasts).to_have_text([re.compile("Webhook enabled"), re.compile("Webhook disabled"),
                                 re.compile("Webhook enabled")])
    with page.expect_response(f"**/webhooks/{ids[-1]}/test"):
        page.locator(f"#webhook-{ids[-1]}").get_by_role("button", name="Send test").click()
    expect(toasts).to_have_count(3)
    error = toasts.last
    expect(error).to_contain_text("Failed")
    expect(error).to_have_attribute("role", "alert")

    # Scrolled to the end, the last row's actions are clear of the stack, on a phone and a desktop.
    last_actions = page.locator(f"#webhook-{ids[-1]} td[data-label=Actions] :is(.btn, button)")
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        stack = [toast.bounding_box() for toast in toasts.all()]
        assert page.evaluate("document.documentElement.scrollHeight > innerHeight"), "the page scrolls"
        for action in last_actions.all():
            assert not any(overlap(action.bounding_box(), box) for box in stack), (viewport, action.inner_text(), stack)
        region = page.locator("#toasts").bounding_box()
        assert region["x"] + region["width"] <= viewport["width"] and region["width"] <= 24 * 16 + 1

    # Info and success go after five seconds (not before); the error stays until closed.
    page.clock.run_for(TOAST_MS - 500)
    expect(toasts).to_have_count(3)
    page.clock.run_for(500 + LEAVING_MS + 100)
    expect(toasts).to_have_count(1)
    expect(toasts).to_contain_text("Failed")
    page.clock.run_for(60_000)
    expect(toasts).to_have_count(1)
    page.set_viewport_size(PHONE)
    close = error.get_by_role("button", name="Dismiss notification")
    assert close.bounding_box()["height"] >= 44
    close.click()
    expect(toasts).to_have_count(0)


def test_a_toast_shows_over_an_open_dialog_and_closes_there(new_context, hookline, receiver):
    page = new_context().new_page()
    set_up_admin(page)
    with httpx.Client(base_url=hookline, headers=ADMIN) as api:
        webhook = create_webhook(api, receiver.url(), name="Orders", events=["order.created"])
        emit_over_api(api)
    receiver.wait_for(1)
    page.goto(f"/webhooks/{webhook['id']}/deliveries")
    page.locator("#delivery-table tbody tr .pill").first.click()
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Resend").click()
    toast = page.locator(".toast", has_text="Resend queued")
    expect(toast).to_be_visible()
    assert toast.evaluate(ON_TOP), "the toast is above the dialog and its backdrop"
    close = toast.get_by_role("button", name="Dismiss notification")
    assert close.evaluate(ON_TOP)
    close.click()
    expect(toast).to_have_count(0)
    expect(dialog).to_be_visible()  # closing a toast is not a click on the backdrop
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("body > #toasts")).to_have_count(1)  # back home once the dialog is closed
