"""The Events view in real Chromium (issue 16): find an event by id and by a field of its
data, open it, follow its fan-out to the delivery that failed and resend it, at desktop
and phone widths."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.helpers import PHONE, create_webhook, emit_over_api, screenshot, set_up_admin

LIVE_TIMEOUT_MS = 15_000  # live parts refresh every 2 s


def search(page, field: str, text: str) -> None:
    page.fill(f"#filter-{field}", text)
    page.press(f"#filter-{field}", "Enter")


def fits_sideways(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_find_an_event_follow_its_fan_out_and_resend_the_failed_delivery(page, hookline, receiver):
    receiver.plan("/broken", 500, 200)  # Warehouse fails once, then answers
    set_up_admin(page)
    with httpx.Client(base_url=hookline) as api:
        create_webhook(api, receiver.url("/ok"), name="Billing", events=["order.created"])
        create_webhook(api, receiver.url("/broken"), name="Warehouse", events=["order.created"], retry_schedule=[0])
        wanted = emit_over_api(api, data={"order_id": 1234, "total": 42})
        other = emit_over_api(api, data={"order_id": 5678})
        signup = emit_over_api(api, type_name="user.signed_up", data={"email": "ada@example.com"})
    receiver.wait_for(4)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Events").click()
    expect(page).to_have_url(re.compile(r"/events$"))
    rows = page.locator("#event-table tbody tr")
    expect(rows).to_have_count(3)
    assert [row.get_attribute("id") for row in rows.all()] == [f"event-{e}" for e in (signup, other, wanted)]
    screenshot(page, "events-desktop")

    search(page, "id", other)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(other)
    expect(page).to_have_url(re.compile(rf"id={other}"))  # a deep link to the result
    page.fill("#filter-id", "")

    search(page, "where", "data.order_id == 1234")  # a typo: the field says what is wrong
    error = page.locator("#filter-where-error")
    expect(error).to_contain_text("is not `<path> <operator> <value>`")
    expect(page.locator("#filter-where")).to_be_focused()
    search(page, "where", "data.order_id = 1234")
    expect(rows).to_have_count(1)
    expect(error).to_have_count(0)
    expect(rows.first).to_contain_text(wanted)
    expect(rows.first.locator("td[data-label=Deliveries] .pill")).to_have_text(["1 succeeded", "1 failed"])

    rows.first.get_by_role("link", name="order.created").click()
    expect(page).to_have_url(re.compile(rf"/events/{wanted}$"))
    expect(page.locator("pre.payload")).to_contain_text('"order_id": 1234')
    fan_out = page.locator("#fan-out-table tbody tr")
    expect(fan_out).to_have_count(2)
    billing, warehouse = fan_out.filter(has_text="Billing"), fan_out.filter(has_text="Warehouse")
    expect(billing.locator(".pill")).to_have_text("succeeded")
    expect(warehouse.locator(".pill")).to_have_text("failed")
    expect(warehouse.locator("td[data-label=Response]")).to_have_text("500")
    screenshot(page, "event-detail-desktop")

    warehouse.locator("td[data-label=Delivery] a").click()
    detail = page.locator("#modal #delivery-detail")
    expect(detail.locator("section.attempt")).to_have_count(1)
    resend = detail.get_by_role("button", name="Resend")
    assert "btn-primary" in resend.get_attribute("class"), "a failed delivery's call to action"
    resend.click()
    expect(detail.locator("section.attempt")).to_have_count(2, timeout=LIVE_TIMEOUT_MS)
    expect(detail.locator("section.attempt").first.locator("h4")).to_contain_text("200")
    expect(detail.locator("h2 .pill")).to_have_text("succeeded", timeout=LIVE_TIMEOUT_MS)
    assert receiver.to("/broken")[-1].headers["webhook-id"] == wanted
    detail.get_by_role("link", name="Close").click()
    expect(warehouse.locator(".pill")).to_have_text("succeeded", timeout=LIVE_TIMEOUT_MS)  # the fan-out followed
    expect(warehouse.locator("td[data-label=Attempts]")).to_have_text("2")

    # On a phone the event page and the list (cards) fit the width.
    page.set_viewport_size(PHONE)
    page.reload()
    expect(fan_out).to_have_count(2)
    assert fits_sideways(page)
    page.goto("/events")
    expect(rows).to_have_count(3)
    assert fits_sideways(page)
    card = rows.first.bounding_box()
    for part in rows.first.locator("code, .btn-copy").all():
        box = part.bounding_box()
        assert card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"] + 0.5
    rows.first.scroll_into_view_if_needed()  # the cards, below the search form
    screenshot(page, "events-phone")
