"""The event types page and the Stats tab measured in real Chromium at desktop and phone
widths: the example payload has room and archiving asks first in a styled dialog (issue
16, defect 10); the chart fills its card with readable y-axis values and UTC hours
(defect 11)."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.helpers import ADMIN, DESKTOP, PHONE, create_webhook, emit_over_api, set_up_admin

EXAMPLE = {"order_id": "ord_1234567890", "customer": {"id": "cus_42", "email": "ada@example.com"},
           "lines": [{"sku": "HOOK-1", "quantity": 2, "price": 4200}], "currency": "EUR"}


def width(locator) -> float:
    return locator.bounding_box()["width"]


def test_example_payload_has_room_and_archive_asks_first(new_context, hookline):
    page = new_context().new_page()
    set_up_admin(page)
    patched = httpx.patch(f"{hookline}/api/v1/event-types/order.created", json={"example": EXAMPLE}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    browser_dialogs = []
    page.on("dialog", lambda dialog: (browser_dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/event-types")
    row = page.locator("#event-type-order-created")
    table = page.locator("#event-type-table table")
    row.locator("summary", has_text="Show").click()
    payload = row.locator("pre.payload")
    expect(payload).to_contain_text('"order_id": "ord_1234567890"')
    assert width(payload) >= 0.4 * width(table), (width(payload), width(table))

    row.get_by_role("link", name="Archive").click()
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()
    expect(page.locator("#modal-title")).to_have_text("Archive order.created?")
    cancel = dialog.get_by_role("link", name="Cancel")
    expect(cancel).to_be_focused()
    cancel.click()
    expect(dialog).to_be_hidden()
    expect(row.locator(".pill")).to_have_text("active")
    row.get_by_role("link", name="Archive").click()
    dialog.get_by_role("button", name="Archive order.created").click()
    expect(dialog).to_be_hidden()
    expect(row.locator(".pill")).to_have_text("archived")
    assert browser_dialogs == [], "no window.confirm()"

    page.set_viewport_size(PHONE)
    page.reload()
    row = page.locator("#event-type-order-created")
    row.locator("summary", has_text="Show").click()
    assert width(row.locator("pre.payload")) >= 0.75 * width(row), "the card's width on a phone"


def test_stats_chart_fills_its_card_with_readable_axes(new_context, hookline, receiver):
    page = new_context().new_page()
    set_up_admin(page)
    with httpx.Client(base_url=hookline) as api:
        webhook = create_webhook(api, receiver.url(), name="Billing", events=["order.created"])
        emit_over_api(api)
        emit_over_api(api)
    receiver.wait_for(2)
    page.goto(f"/webhooks/{webhook['id']}/stats")
    card, svg = page.locator("section.chart-card"), page.locator("svg.chart")
    expect(page.locator(".chart-tick")).to_have_text(["0", "1", "2"])  # two in the busiest hour
    expect(page.locator(".chart-x-title")).to_have_text("Hour of day, UTC")
    expect(card.locator("h2")).to_contain_text("(UTC)")
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert width(svg) >= 0.9 * width(card), (viewport, width(svg), width(card))
        sizes = page.evaluate("[...document.querySelectorAll('.chart-tick, .chart-x span')]"
                              ".map(label => parseFloat(getComputedStyle(label).fontSize))")
        assert min(sizes) >= 11, (viewport, min(sizes))
        # Each value sits on its grid line: 0 at the bottom of the plot, the top value at its top.
        plot = svg.bounding_box()
        for percent, y in ((0, plot["y"] + plot["height"]), (100, plot["y"])):
            label = page.locator(f".chart-tick.tick-{percent}").bounding_box()
            assert abs(label["y"] + label["height"] / 2 - y) <= 2, (viewport, percent, label, plot)
        first_hour, plot_left = page.locator(".chart-x span").first.bounding_box(), plot["x"]
        assert abs(first_hour["x"] - plot_left) <= 1, "the hours line up with their bars"
