"""The Overview walked through in real Chromium at desktop and phone widths: three webhooks
against a loopback receiver (one answered 200, one 500, one 410 Gone, which switches it
off with a reason), the sender running; "/" lands on the Overview, which shows the failure
rate, lists the failing and the disabled one under "Needs attention", and shows the failure
with its error, one click from its delivery."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.helpers import ADMIN, PHONE, create_webhook, emit_over_api, eventually, screenshot, set_up_admin


def settled(api: httpx.Client, webhook_id: str, status: str):
    """The webhook's one delivery once it is `status` (the sender runs on the real clock)."""
    def check():
        rows = api.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=ADMIN).json()["data"]
        return rows[0] if rows and rows[0]["status"] == status else None

    return eventually(check, what=f"a {status} delivery")


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_overview_walk_through(new_context, hookline, receiver):
    receiver.plan("/orders", 500)
    receiver.plan("/legacy", 410)
    page = new_context().new_page()
    set_up_admin(page)
    with httpx.Client(base_url=hookline) as api:
        hooks = {name: create_webhook(api, receiver.url(path), name=name, events=["order.created"], retry_schedule=[0])
                 for name, path in (("Billing", "/billing"), ("Orders to ERP", "/orders"), ("Legacy CRM", "/legacy"))}
        emit_over_api(api)
        settled(api, hooks["Billing"]["id"], "succeeded")
        failed = settled(api, hooks["Orders to ERP"]["id"], "failed")
        settled(api, hooks["Legacy CRM"]["id"], "failed")
        assert api.get(f"/api/v1/webhooks/{hooks['Legacy CRM']['id']}", headers=ADMIN).json()["enabled"] is False

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/overview$"))
    expect(page.locator(".topnav a").first).to_have_text("Overview")
    expect(page.locator("#totals-24h [data-rate]")).to_have_text("66.7%")  # 2 of 3 failed
    expect(page.locator("#totals-24h [data-count]")).to_have_text(["1", "2", "0"])
    attention = page.locator("#attention .attention-item")
    expect(attention.locator(".attention-name")).to_have_text(["Orders to ERP", "Legacy CRM"])
    expect(attention.nth(0).locator(".pill")).to_have_text("failing")
    expect(attention.nth(1).locator("[data-why=disabled]")).to_contain_text("The endpoint answered 410 Gone")
    row = page.locator(f"#failure-{failed['id']}")
    expect(row.locator("td[data-label=Webhook]")).to_have_text("Orders to ERP")
    expect(row.locator("td[data-label=Error]")).to_contain_text("HTTP 500")
    assert no_sideways_scroll(page)
    screenshot(page, "overview-desktop")

    page.set_viewport_size(PHONE)
    page.reload()
    assert no_sideways_scroll(page)
    link = row.locator("td[data-label=Delivery] a")
    for target in (link, page.locator(".period-switch a").first, attention.first.locator(".attention-name")):
        assert target.bounding_box()["height"] >= 44, target
    card = row.bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"], card
    page.locator("#attention").evaluate("section => section.scrollIntoView()")  # the lists, not the totals again
    screenshot(page, "overview-phone")

    link.click()  # one click from the failure to its delivery
    expect(page).to_have_url(re.compile(rf"/deliveries/{failed['id']}$"))
    expect(page.locator("main")).to_contain_text("500")
