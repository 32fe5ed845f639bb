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

