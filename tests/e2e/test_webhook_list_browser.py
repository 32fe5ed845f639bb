"""The webhook list measured in real Chromium with six long names and URLs (issue 16):
at 1280 px the rows stay one line of actions, names give way with an ellipsis and open the
webhook, secondary actions sit in a keyboard-friendly menu, and the name is renamed on the
webhook's page (defect 4); at 390 px each URL shows its host and the end of its path, the
labels do not break, touch targets are 44 px and Delete is a button away from Send test
(defect 5)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, expect

from tests.helpers import DESKTOP, PHONE, create_webhook, row_menu, screenshot, set_up_admin, webhook_row

PREFIX = "https://erp.example.com/api/v2/integrations/hookline/tenants/acme"
WEBHOOKS = [
    ("Orders to the ERP production mirror for the EU region", f"{PREFIX}/orders/hook", ["*"]),
    ("Invoices to the accounting service (nightly reconciliation)", f"{PREFIX}/invoices/hook",
     ["order.created", "order.paid"]),
    ("Refunds to the ERP production mirror for the EU region", f"{PREFIX}/refunds/hook", ["*"]),
    ("Slack", "https://hooks.example.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX", ["order.created"]),
    ("Shipments to the warehouse management system in Rotterdam", "https://wms.rotterdam.example.net/inbound/hookline/shipments",
     ["order.*", "order.created", "order.paid"]),
    ("Audit", "https://audit.example.org/hook", ["*"]),
]


def make_webhooks(hookline: str) -> dict[str, str]:
    with httpx.Client(base_url=hookline) as api:
        return {name: create_webhook(api, url=url, name=name, events=events)["id"] for name, url, events in WEBHOOKS}


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def text_lines(page: Page, selector: str) -> list[int]:
    """How many lines the text of each element matching `selector` takes."""
    return page.evaluate("""selector => [...document.querySelectorAll(selector)].map(element => {
        const range = document.createRange();
        range.selectNodeContents(element);
        return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
    })""", selector)


def test_rows_fit_at_desktop_and_the_name_opens_the_webhook(new_context, hookline):
    page = new_context(viewport=DESKTOP).new_page()
    set_up_admin(page)
    ids = make_webhooks(hookline)
    page.goto("/webhooks")
    rows = page.locator("#webhook-table tbody tr")
    expect(rows).to_have_count(len(WEBHOOKS))
    assert no_sideways_scroll(page)

    for name, url, _ in WEBHOOKS:
        row = webhook_row(page, name)
        link = row.get_by_role("link", name=name, exact=True)
        expect(link).to_have_attribute("href", f"/webhooks/{ids[name]}")
        style = link.evaluate("a => { const s = getComputedStyle(a); return [s.textOverflow, s.whiteSpace, s.overflow]; }")
        assert style == ["ellipsis", "nowrap", "hidden"], (name, style)
        # One line of actions: every visible control of the cell on the same row of pixels.
        tops = row.locator(".actions > form > button, .actions > details > summary").evaluate_all(
            "controls => controls.map(c => Math.round(c.getBoundingClientRect().top))")
        assert len(tops) == 2 and len(set(tops)) == 1, (name, tops)
        expect(row.locator(".url")).to_have_attribute("title", url)
        tail, cell = row.locator(".url-tail"), row.locator("td.cell-url").bounding_box()
        assert tail.evaluate("t => t.scrollWidth <= t.clientWidth"), (name, "the end of the path is shown whole")
        assert tail.bounding_box()["x"] + tail.bounding_box()["width"] <= cell["x"] + cell["width"], name
    assert all(lines == 1 for lines in text_lines(page, "#webhook-table .badge")), "a pill never breaks"
    assert page.evaluate("[...document.querySelectorAll('#webhook-table .badge')].every(b => b.scrollWidth <= b.clientWidth)"), \
        "order.created fits its column uncut"
    assert text_lines(page, "#webhook-table th:not(:last-child)") == [1] * 5, "headers, 'Last 24 h' too, stay on one line"
    # Narrower than 1100 px the list drops columns rather than cramming them.
    for width in (1024, 768):
        page.set_viewport_size({"width": width, "height": 800})
        assert no_sideways_scroll(page), width
        for row in rows.all():
            tops = row.locator(".actions > form > button, .actions > details > summary").evaluate_all(
                "controls => controls.map(c => Math.round(c.getBoundingClientRect().top))")
            assert len(set(tops)) == 1, (width, tops)
            tail, cell = row.locator(".url-tail").bounding_box(), row.locator("td.cell-url").bounding_box()
            assert tail["x"] + tail["width"] <= cell["x"] + cell["width"], (width, "the end of the path is shown whole")
    page.set_viewport_size(DESKTOP)
    long_name = page.get_by_role("link", name=WEBHOOKS[0][0], exact=True)
    assert long_name.evaluate("a => a.scrollWidth > a.clientWidth"), "the long name is cut (with the ellipsis)"

    # The menu: Enter opens it, Tab reaches its items, Esc closes it and gives the focus back.
    summary = webhook_row(page, "Audit").locator("summary")
    popup = webhook_row(page, "Audit").locator(".menu-popup")
    summary.focus()
    page.keyboard.press("Enter")
    expect(popup).to_be_visible()
    page.keyboard.press("Tab")
    expect(popup.get_by_role("link", name="Edit")).to_be_focused()
    expect(popup.get_by_role("link", name="Deliveries")).to_have_attribute("href", f"/webhooks/{ids['Audit']}/deliveries")
    expect(popup.get_by_role("button", name="Delete…")).to_be_visible()
    box, table = popup.bounding_box(), page.locator("#webhook-table .table-wrap").bounding_box()
    assert box["y"] + box["height"] > table["y"] + table["height"], "the last row's menu hangs below the table, unclipped"
    screenshot(page, "list-menu-desktop")
    page.keyboard.press("Escape")
    expect(popup).to_be_hidden()
    expect(summary).to_be_focused()
    # Tabbing out of it, a click outside, or opening another closes it.
    slack = row_menu(page, "Slack")
    slack.get_by_role("button", name="Delete…").focus()
    page.keyboard.press("Tab")  # on to the next row's name
    expect(slack.locator(".menu-popup")).to_be_hidden()
    row_menu(page, "Audit")
    page.locator("h1").click()
    expect(popup).to_be_hidden()
    row_menu(page, "Audit")
    row_menu(page, "Slack")
    expect(popup).to_be_hidden()
    page.keyboard.press("Escape")

    # The name opens the webhook, whose heading renames it in place.
    page.get_by_role("link", name="Slack", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/webhooks/{ids['Slack']}/deliveries$"))
    expect(page.locator(".webhook-url")).to_contain_text(WEBHOOKS[3][1])  # whole, on the webhook's page
    page.get_by_role("link", name="Rename").click()
    field = page.locator("#rename-name")
    expect(field).to_be_focused()
    expect(field).to_have_value("Slack")
    field.fill(" ")
    field.press("Enter")
    screenshot(page, "rename-desktop")
    expect(page.locator("#rename-name-error")).to_contain_text("Name")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    field.fill("Slack #orders")
    field.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Slack #orders")
    expect(page.get_by_role("link", name="Rename")).to_be_focused()
    page.get_by_role("link", name="Rename").click()
    page.locator("#webhook-title").get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Slack #orders")
    page.goto("/webhooks")
    expect(webhook_row(page, "Slack #orders")).to_have_count(1)


def test_phone_shows_url_ends_and_44px_targets_with_delete_apart(new_context, hookline):
    page = new_context(viewport=PHONE).new_page()
    set_up_admin(page)
    make_webhooks(hookline)
    page.goto("/webhooks")
    expect(page.locator("#webhook-table tbody tr")).to_have_count(len(WEBHOOKS))
    assert no_sideways_scroll(page)
    screenshot(page, "list-long-names-phone")

    shown = []
    for name, url, _ in WEBHOOKS:
        row = webhook_row(page, name)
        link = row.get_by_role("link", name=name, exact=True)
        assert link.bounding_box()["height"] >= 44, name
        text = row.locator(".url").text_content()
        shown.append(text)
        parts = urlsplit(url)
        last_segment = parts.path.rsplit("/", 1)[-1]
        # The last segment whole, or the end of one too long on its own (Slack's token).
        assert text.startswith(parts.hostname) and text.endswith(last_segment[-20:]), (url, text)
        tail = row.locator(".url-tail")
        assert tail.evaluate("t => t.scrollWidth <= t.clientWidth"), "the end of the path is not cut"
        assert row.locator(".url").evaluate("u => u.getBoundingClientRect().right") <= PHONE["width"]
        for control in (row.get_by_role("button", name="Send test"), row.locator("summary"), row.locator(".toggle")):
            assert control.bounding_box()["height"] >= 44, (name, control)
    assert len(set(shown)) == len(shown), f"every URL reads differently: {shown}"
    labels = page.evaluate("[...document.querySelectorAll('#webhook-table td')].map("
                           "td => getComputedStyle(td, '::before').whiteSpace)")
    assert set(labels) == {"nowrap"}, "a card's labels ('Last 24 h') never break"
    health = webhook_row(page, "Audit").locator("td.health")
    assert health.bounding_box()["height"] < 60, "'Last 24 h' and its value stay one line"

    # Delete is a real button at the foot of the menu, 44 px high, away from Send test.
    menu = row_menu(page, "Audit")
    send_test = webhook_row(page, "Audit").get_by_role("button", name="Send test").bounding_box()
    delete = menu.get_by_role("button", name="Delete…")
    expect(delete).to_have_attribute("type", "submit")
    box = delete.bounding_box()
    assert box["height"] >= 44
    gap = max(box["y"] - (send_test["y"] + send_test["height"]), send_test["y"] - (box["y"] + box["height"]))
    assert gap >= 44, (send_test, box)
    for item in menu.locator(".menu-item").all():
        assert item.bounding_box()["height"] >= 44
        assert item.bounding_box()["x"] + item.bounding_box()["width"] <= PHONE["width"]
