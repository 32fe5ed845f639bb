"""A delivery's detail in real Chromium (issue 16, defect 7 and the ids of defect 5): it
follows a resend live, attempts first and in view, Resend secondary once a delivery
succeeded, and ids that stay inside a phone's dialog."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.helpers import DESKTOP, PHONE, create_webhook, emit_over_api, set_up_admin

LIVE_TIMEOUT_MS = 15_000  # the detail refreshes itself every 2 s


def inside(inner: dict, outer: dict) -> bool:
    return (outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
            and outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5)


def test_the_detail_shows_a_resent_attempt_without_reloading(page, hookline, receiver):
    set_up_admin(page)
    with httpx.Client(base_url=hookline) as api:
        webhook = create_webhook(api, receiver.url(), name="Billing", events=["order.created"])
        event_id = emit_over_api(api)
    receiver.wait_for(1)
    page.goto(f"/webhooks/{webhook['id']}/deliveries")
    expect(page.locator("#delivery-table .pill")).to_have_text(["succeeded"])
    page.locator("#delivery-table a.pill").click()
    dialog, detail = page.locator("#modal"), page.locator("#delivery-detail")
    expect(dialog).to_be_visible()
    attempts = detail.locator("section.attempt")
    expect(attempts).to_have_count(1)

    # Succeeded: Resend is there but not the page's main call to action; the attempt is
    # in view without scrolling the dialog.
    resend = detail.get_by_role("button", name="Resend")
    assert "btn-primary" not in resend.get_attribute("class")
    assert inside(attempts.first.locator("h4").bounding_box(), dialog.bounding_box())
    assert page.evaluate("document.getElementById('modal').scrollTop") == 0

    attempts.first.get_by_text("Request headers").click()  # opened, and it stays open
    resend.click()
    expect(page.locator("#toasts")).to_contain_text("Resend queued")
    receiver.wait_for(2)
    expect(attempts).to_have_count(2, timeout=LIVE_TIMEOUT_MS)
    expect(detail.locator("h2 .pill")).to_have_text("succeeded", timeout=LIVE_TIMEOUT_MS)
    expect(detail.locator("dt", has_text="Next attempt")).to_have_count(0)
    expect(attempts.first.locator("h4")).to_contain_text("Attempt 2")
    assert attempts.nth(1).locator("details").first.get_attribute("open") is not None, \
        "a live refresh keeps what the user opened"
    assert detail.get_attribute("hx-trigger") is None, "a final delivery stops polling"
    assert receiver.requests[1].headers["webhook-id"] == event_id

    # The detail as a page of its own: the same, and its ids fit a phone.
    delivery_id = detail.locator("#detail-delivery-id").inner_text()
    page.goto(f"/deliveries/{delivery_id}")
    assert page.locator("section.attempt h4").first.bounding_box()["y"] < DESKTOP["height"]
    page.set_viewport_size(PHONE)
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    card = page.locator(".card").bounding_box()
    for code in page.locator("#delivery-detail .facts code").all():
        assert inside(code.bounding_box(), card), code.inner_text()

    # ... and in the dialog on a phone.
    page.goto(f"/webhooks/{webhook['id']}/deliveries")
    page.locator("#delivery-table a.pill").first.click()
    expect(dialog).to_be_visible()
    assert page.evaluate("(d => d.scrollWidth <= d.clientWidth)(document.getElementById('modal'))")
    box = dialog.bounding_box()
    for code in dialog.locator(".facts code").all():
        assert inside(code.bounding_box(), box), code.inner_text()
    for button in dialog.locator(".facts .btn-copy").all():
        assert inside(button.bounding_box(), box)
