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
    ADMIN, ADMIN_PASSWORD, ADMIN_USER, DESKTOP, PHONE, Reply, create_webhook, dismiss_secret, emit_over_api,
    set_up_admin,
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
    last_actions = page.locator(f"#webhook-{ids[-1]} td[data-label=Actions] :is(.btn, button)").filter(visible=True)
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


def confirmation(page: Page):
    return page.locator("#confirm-dialog")


def test_every_hx_confirm_asks_in_a_styled_dialog(new_context, hookline):
    page = new_context().new_page()
    native = []
    page.on("dialog", lambda dialog: (native.append(dialog.message), dialog.dismiss()))
    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    set_up_admin(page)
    with httpx.Client(base_url=hookline, headers=ADMIN) as api:
        webhook = create_webhook(api, name="Billing", events=["order.created"])
    ask = confirmation(page)

    # Delete: Cancel and Esc keep the webhook, Delete deletes it.
    page.goto("/webhooks")
    row = page.locator(f"#webhook-{webhook['id']}")
    menu = row.locator("details.menu summary")
    delete = row.get_by_role("button", name="Delete…")
    menu.click()
    delete.click()
    expect(ask).to_be_visible()
    expect(ask.locator("#confirm-title")).to_have_text("Delete the webhook “Billing”?")
    expect(ask.locator("#confirm-detail")).to_have_text("Deliveries still waiting are cancelled.")
    cancel, go = ask.get_by_role("button", name="Cancel"), ask.get_by_role("button", name="Delete")
    expect(cancel).to_be_focused()
    assert go.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(207, 34, 46)", "danger"
    cancel.click()
    expect(ask).to_be_hidden()
    expect(menu).to_be_focused()  # back on the menu that held Delete
    menu.click()
    delete.click()
    expect(ask).to_be_visible()
    page.keyboard.press("Escape")
    expect(ask).to_be_hidden()
    assert not [url for url in posts if url.endswith("/delete")]
    expect(row).to_be_visible()

    # Rotate, from inside the #modal dialog: a second dialog on top of it.
    menu.click()
    row.get_by_role("link", name="Edit").click()
    modal = page.locator("#modal")
    rotate = modal.get_by_role("button", name="Rotate secret")
    rotate.click()
    expect(ask.locator("#confirm-title")).to_have_text("Rotate the signing secret?")
    expect(cancel).to_be_focused()
    assert ask.get_by_role("button", name="Rotate secret").evaluate(ON_TOP), "over #modal, not under it"
    page.keyboard.press("Escape")
    expect(ask).to_be_hidden()
    expect(modal).to_be_visible()  # Esc closed only the question
    rotate = modal.get_by_role("button", name="Rotate secret")
    rotate.click()
    ask.get_by_role("button", name="Rotate secret").click()
    expect(page.locator("#modal-title")).to_have_text("New signing secret")
    assert [url for url in posts if url.endswith("/rotate-secret")] == [f"{hookline}/webhooks/{webhook['id']}/rotate-secret"]
    dismiss_secret(page)

    menu.click()
    delete.click()
    go.click()
    expect(row).to_have_count(0)
    expect(page.locator(".toast").last).to_contain_text("Webhook deleted")

    # Revoke on the API keys page.
    page.goto("/api-keys")
    page.fill("#key-name", "checkout")
    page.get_by_role("button", name="Create API key").click()
    key_row = page.locator("#active-keys tr", has_text="checkout")
    key_row.get_by_role("button", name="Revoke").click()
    expect(ask.locator("#confirm-title")).to_contain_text("Revoke the key")
    expect(ask.locator("#confirm-detail")).to_have_text("Apps using it will get 401.")
    cancel.click()
    expect(key_row).to_be_visible()
    key_row.get_by_role("button", name="Revoke").click()
    ask.get_by_role("button", name="Revoke").click()
    expect(page.locator("#active-keys")).not_to_contain_text("checkout")
    expect(page.locator("details#revoked-keys summary")).to_have_text("Revoked keys (1)")
    assert native == [], "window.confirm() never opened"


def test_send_test_is_busy_while_it_waits_and_a_double_click_sends_once(new_context, hookline, receiver):
    receiver.plan("/slow", Reply(200, delay=1.0))
    page = new_context().new_page()
    set_up_admin(page)
    with httpx.Client(base_url=hookline, headers=ADMIN) as api:
        webhook = create_webhook(api, receiver.url("/slow"), name="Slow", events=["order.created"])
    page.goto("/webhooks")
    sent = []
    page.on("request", lambda request: sent.append(request.url) if request.url.endswith("/test") else None)
    button = page.locator(f"#webhook-{webhook['id']}").get_by_role("button", name="Send test")
    button.dblclick()
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button).to_be_disabled()
    spinner = button.evaluate("b => getComputedStyle(b, '::after').animationName")
    assert spinner == "busy-spin"
    expect(page.locator(".toast").last).to_contain_text("Delivered: 200")
    assert len(receiver.to("/slow")) == 1
    assert len(sent) == 1
    expect(page.locator("[aria-busy=true]")).to_have_count(0)  # nothing is left marked
    with httpx.Client(base_url=hookline, headers=ADMIN) as api:
        deliveries = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries").json()
    assert len(deliveries["data"]) == 1, deliveries


# What a finger presses on this page and is under 44px high: buttons, links styled as
# buttons, form controls (a checkbox or radio by its label).
SMALL_TARGETS = """() => {
  const controls = document.querySelectorAll(".btn, button, select, textarea, input:not([type=hidden])");
  return [...controls].map(control => control.matches("[type=checkbox], [type=radio]") ? control.closest("label") || control : control)
    .filter(target => target.getClientRects().length && !target.closest(".visually-hidden, noscript"))
    .map(target => [target.outerHTML.slice(0, 80), target.getBoundingClientRect().height])
    .filter(([, height]) => height < 43.5);
}"""

NOTICE_VIOLATIONS = """document.addEventListener("securitypolicyviolation", event =>
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI} at ${event.sourceFile}:${event.lineNumber}`));"""


def test_no_page_breaks_the_csp_and_phone_touch_targets_are_44px(new_context, hookline, receiver):
    context = new_context(viewport=PHONE)
    context.add_init_script(NOTICE_VIOLATIONS)
    page = context.new_page()
    problems = []
    page.on("console", lambda message: problems.append(f"{page.url}: {message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))

    def look(what: str) -> None:
        # No inline style in the markup (app.js's --toast-room on <html> is CSSOM, which CSP allows).
        assert page.evaluate("document.querySelectorAll('style, body [style]').length") == 0, what
        assert page.evaluate(SMALL_TARGETS) == [], what

    page.goto("/setup")
    look("setup")
    set_up_admin(page)
    with httpx.Client(base_url=hookline, headers=ADMIN) as api:
        webhook = create_webhook(api, receiver.url(), name="Orders", events=["order.created"])
        emit_over_api(api)
    receiver.wait_for(1)
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    for path in ("/webhooks", f"/webhooks/{webhook['id']}/deliveries", f"/webhooks/{webhook['id']}/stats",
                 "/event-types", "/api-keys", "/settings/notifications", "/tenants/default", "/inspector"):
        page.goto(path)
        look(path)
    page.get_by_role("button", name="Create a test endpoint").click()  # /inspector is the last of them
    expect(page).to_have_url(re.compile("/inspector/."))
    look("an inspector endpoint")
    page.goto("/webhooks")
    page.locator(".page-header").get_by_role("link", name="Create webhook").click()
    expect(page.locator("#modal-title")).to_have_text("Create webhook")
    look("create dialog")
    page.goto(f"/webhooks/{webhook['id']}/deliveries")
    page.locator("#delivery-table tbody tr .pill").first.click()
    expect(page.locator("#modal section.attempt")).to_have_count(1)
    look("delivery detail")
    page.keyboard.press("Escape")
    page.goto(page.locator("#delivery-table tbody tr .pill").first.get_attribute("href"))
    look("delivery page")
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    expect(page).to_have_url(re.compile("/login"))
    look("login")
    page.fill("#name", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    assert problems == []
