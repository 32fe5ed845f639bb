"""The delivery log in real Chromium: ids shown and copied, search by id, a time range,
"Clear filters" on an empty result, no Recover panel without failures, ids that fit a
phone's card (issue 16, defect 8)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.helpers import PHONE, create_webhook, emit_over_api, set_up_admin


def search(page, text: str) -> None:
    page.fill("#filter-search", text)
    page.press("#filter-search", "Enter")


def test_find_a_delivery_by_id_copy_its_ids_and_clear_the_filters(new_context, hookline, receiver):
    page = new_context(permissions=["clipboard-read", "clipboard-write"]).new_page()
    set_up_admin(page)
    with httpx.Client(base_url=hookline) as api:
        webhook = create_webhook(api, receiver.url(), name="Billing", events=["order.created"])
        events = [emit_over_api(api) for _ in range(3)]
    receiver.wait_for(3)
    log_url = f"/webhooks/{webhook['id']}/deliveries"
    page.goto(log_url)
    rows = page.locator("#delivery-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.locator(".pill")).to_have_text(["succeeded"] * 3)
    expect(page.locator("#recover")).to_have_count(0)  # nothing failed: nothing to recover

    newest = rows.first
    expect(newest.locator("td[data-label=Ids]")).to_contain_text(events[-1])
    copy = newest.get_by_role("button", name="Copy event id")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == events[-1]
    delivery_id = newest.locator("code[id^=delivery-id-]").inner_text()
    newest.get_by_role("button", name="Copy delivery id").click()
    expect(newest.get_by_role("button", name="Copy delivery id")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == delivery_id

    search(page, events[0])
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(events[0])
    expect(page).to_have_url(re.compile(rf"search={events[0]}"))  # a deep link to the result
    search(page, delivery_id)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("code[id^=delivery-id-]")).to_have_text(delivery_id)

    search(page, "evt_00000000000000000000000000")
    empty = page.locator("#delivery-list .empty-state")
    expect(empty).to_contain_text("No deliveries match these filters")
    empty.get_by_role("link", name="Clear filters").click()
    expect(rows).to_have_count(3)
    expect(page.locator("#filter-search")).to_have_value("")

    page.fill("#filter-since", "2999-01-01T00:00")  # nothing was created after this
    expect(empty).to_contain_text("No deliveries match these filters")
    page.fill("#filter-since", "2000-01-01T00:00")
    expect(rows).to_have_count(3)

    # On a phone each row is a card, and its ids stay inside it.
    page.set_viewport_size(PHONE)
    page.goto(log_url)
    expect(rows).to_have_count(3)
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "nothing overflows sideways"
    card = rows.first.bounding_box()
    for code in rows.first.locator("td[data-label=Ids] code").all():
        box = code.bounding_box()
        assert card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"]
