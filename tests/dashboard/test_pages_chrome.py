"""What every dashboard page carries from base.html (issue 16, defect 13): a favicon that
is found under both names, and the confirmation dialog app.js asks every hx-confirm in.
The behaviour is measured in Chromium in tests/e2e/test_chrome_browser.py."""

from __future__ import annotations

from tests.helpers import soup


def test_the_favicon_is_linked_and_favicon_ico_finds_it(api):
    login = soup(api.get("/setup"))
    icon = login.select_one("link[rel=icon]")
    assert icon["href"].endswith("/static/favicon.svg") and icon["type"] == "image/svg+xml"
    svg = api.get(icon["href"])
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and "<script" not in svg.text
    moved = api.get("/favicon.ico")
    assert moved.status_code == 301 and moved.headers["location"] == "/static/favicon.svg"


def test_pages_carry_the_confirmation_dialog_with_cancel_first(dashboard):
    dialog = soup(dashboard.get("/api-keys")).select_one("dialog#confirm-dialog")
    assert dialog["role"] == "alertdialog"
    assert dialog["aria-labelledby"] == "confirm-title" and dialog.select_one("#confirm-title")
    assert dialog["aria-describedby"] == "confirm-detail" and dialog.select_one("#confirm-detail")
    form = dialog.select_one("form[method=dialog]")
    assert [(b.get_text(), b["value"]) for b in form.select("button")] == [("Cancel", "cancel"), ("Confirm", "confirm")]
    assert "btn-danger-solid" in form.select_one("button[value=confirm]")["class"]
