"""The request inspector walked through in real Chromium (issue 16, "New views"): create
a test endpoint, create a webhook pointing at it in one click, Send test, and watch the
signed delivery arrive on the endpoint's page without a reload, pretty-printed and
verified with the webhook's secret; a request from an outside sender, unsigned, arrives
too and says it is not verified; deleting the endpoint asks first, in the dashboard's
dialog. Walked at desktop width, each page also laid out at phone width (a resize: the
pages switch layout by CSS media queries only), where it must not scroll sideways.

Set HOOKLINE_SCREENSHOTS=1 to refresh docs/screenshots/inspector-{desktop,phone}.png.
"""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import expect

from tests.helpers import DESKTOP, PHONE, screenshot, set_up_admin

# Resolves once the request list has been swapped for a fresh copy (it polls every 2 s).
NEXT_REFRESH = """() => new Promise((resolve, reject) => {
    document.body.addEventListener("htmx:afterSettle", resolve, {once: true});
    setTimeout(() => reject(new Error("no refresh within 5 s")), 5000);
})"""


def test_a_test_delivery_and_an_outside_request_arrive_live(new_context):
    """Walked at desktop width; then the same page, laid out for a phone, must fit it."""
    page = new_context(viewport=DESKTOP).new_page()
    set_up_admin(page)
    page.get_by_role("link", name="Inspector").click()
    expect(page).to_have_url(re.compile(r"/inspector$"))
    page.fill("#endpoint-name", "Checkout")
    page.get_by_role("button", name="Create a test endpoint").click()
    expect(page).to_have_url(re.compile(r"/inspector/[^/]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Checkout")
    capture_url = page.locator("#capture-url").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/inspect/[\w-]{32}", capture_url), capture_url
    expect(page.locator("#inspector-requests")).to_contain_text("Nothing received yet")

    page.get_by_role("button", name="Create a webhook pointing here").click()
    expect(page.locator(".toast, .banner").first).to_contain_text("Webhook created")
    page.get_by_role("button", name="Send test with Inspector: Checkout").click()
    expect(page.locator(".inspector-request")).to_have_count(1)  # the page polls: no reload
    delivered = page.locator("#" + page.locator(".inspector-request").get_attribute("id"))
    expect(delivered.locator("h3")).to_contain_text("POST")
    expect(delivered.locator(".inspector-verified").first).to_have_text(
        re.compile(r"^\s*verified\s+webhook-signature v1 verified with Inspector: Checkout's current secret\s*$"))
    expect(delivered.locator(".inspector-verified")).to_have_count(2)  # Standard Webhooks, and the hmac header
    body = delivered.locator(".inspector-json").inner_text()
    assert json.loads(body)["type"] == "webhook.test"
    assert '\n  "type": "webhook.test"' in body, "pretty-printed"
    for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.locator("#capture-url").evaluate("box => box.scrollIntoView()")  # the URL, the buttons, what arrived
        screenshot(page, f"inspector-{width}")

    # Opened headers stay open while the list refreshes itself every 2 s.
    headers = delivered.locator("details")
    headers.locator("summary").click()
    expect(headers.get_by_text("webhook-signature", exact=True)).to_be_visible()
    page.evaluate(NEXT_REFRESH)
    expect(headers).to_have_attribute("open", "")

    outside = httpx.post(capture_url, json={"order_id": 1234, "lines": [{"sku": "HOOK-1"}]})
    assert outside.status_code == 200, outside.text
    requests = page.locator(".inspector-request")
    expect(requests).to_have_count(2)
    unsigned = requests.first
    expect(unsigned.locator(".inspector-verdict")).to_have_count(1)
    expect(unsigned.locator(".inspector-unverified")).to_have_text(
        re.compile(r"^\s*not verified\s+no signature: the request has no webhook-signature header"))
    expect(unsigned.locator(".inspector-json")).to_contain_text('"order_id": 1234')

    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert fits_the_width(page), f"the endpoint page scrolls sideways at {viewport}"
    page.get_by_role("link", name="Request inspector").click()
    expect(page.locator("#inspector-endpoints")).to_contain_text("Checkout")
    assert fits_the_width(page), "the list of endpoints scrolls sideways on a phone"

    # Delete asks first, in the dialog (here on a phone); Cancel keeps the endpoint.
    browser_dialogs = []
    page.on("dialog", lambda dialog: (browser_dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("link", name="Checkout").click()
    page.get_by_role("button", name="Delete").click()
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()
    expect(page.locator("#modal-title")).to_have_text("Delete Checkout?")
    expect(dialog).to_contain_text("the 2 requests it received are deleted")
    cancel = dialog.get_by_role("link", name="Cancel")
    expect(cancel).to_be_focused()
    cancel.click()
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete test endpoint").click()
    expect(page).to_have_url(re.compile(r"/inspector$"))
    expect(page.locator("main")).to_contain_text("No test endpoints yet")
    assert httpx.get(capture_url).status_code == 404
    assert browser_dialogs == [], "no window.confirm()"


def fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
