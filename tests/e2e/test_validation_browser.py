"""Forms with mistakes in real Chromium (issue 16, defect 9): every invalid control has a
red border whatever its type, and the focus is on the first invalid field, in setup, the
webhook and event-type dialogs, and sign-in."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.helpers import ADMIN_PASSWORD, ADMIN_USER, open_create_modal, set_up_admin

DANGER = "rgb(207, 34, 46)"  # --danger in static/app.css


def border_colour(page: Page, selector: str) -> str:
    return page.locator(selector).evaluate("field => getComputedStyle(field).borderTopColor")


def settled(page: Page) -> None:
    expect(page.locator("#modal-body")).not_to_have_class(re.compile("htmx-settling"))


def test_invalid_fields_are_red_and_the_first_has_the_focus(new_context):
    page = new_context().new_page()
    page.goto("/setup")
    page.fill("#password", "short")
    page.fill("#password_confirm", "other")
    page.get_by_role("button", name="Create administrator").click()
    for error in ("#name-error", "#password-error", "#confirm-error"):  # all at once
        expect(page.locator(error)).to_be_visible()
    expect(page.locator("#name")).to_be_focused()
    assert [border_colour(page, f) for f in ("#name", "#password", "#password_confirm")] == [DANGER] * 3
    set_up_admin(page)

    # The webhook dialog: the URL (type=url, whose own rule used to win) is red and focused.
    open_create_modal(page)
    page.fill("#wh-name", "Billing")
    page.fill("#wh-url", "ftp://example.com/hook")
    page.locator("#modal").get_by_role("button", name="Create webhook").click()
    expect(page.locator("#wh-url-error")).to_contain_text("must be an http:// or https:// URL")
    settled(page)
    expect(page.locator("#wh-url")).to_be_focused()
    assert border_colour(page, "#wh-url") == DANGER
    assert border_colour(page, "#wh-name") != DANGER
    page.locator("#modal [data-close-modal]").first.click()

    # A textarea: the event type's example.
    page.goto("/event-types")
    page.get_by_role("link", name="New event type").click()
    settled(page)
    page.fill("#et-name", "invoice.paid")
    page.fill("#et-example", "{oops")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#et-example-error")).to_be_visible()
    settled(page)
    expect(page.locator("#et-example")).to_be_focused()
    assert border_colour(page, "#et-example") == DANGER

    # Sign-in: the name stays, the emptied password is marked and focused.
    page.goto("/webhooks")
    page.get_by_role("button", name="Sign out").click()
    page.fill("#name", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD + "typo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong name or password.")
    expect(page.locator("#password")).to_be_focused()
    assert border_colour(page, "#password") == DANGER
    expect(page.locator("#name")).to_have_value(ADMIN_USER)
