"""Forms with mistakes, as the server renders them (issue 16, defect 9): first-run setup
names every mistake at once and focuses the first, a wrong sign-in marks and focuses the
password, and a URL error says what is allowed (the rule's own table is in
tests/unit/test_webhook_urls.py). The browser side is tests/e2e/test_validation_browser.py."""

from __future__ import annotations

import pytest

from app.storage.models import User
from tests.helpers import ADMIN_PASSWORD, ADMIN_USER, create_in_dashboard, soup


def post_setup(api, **fields):
    token = soup(api.get("/setup")).select_one("input[name=csrf_token]")["value"]
    return api.post("/setup", data={"csrf_token": token, **fields})


def test_setup_shows_every_mistake_at_once_and_focuses_the_first(api):
    response = post_setup(api, name=" ", password="short", password_confirm="other")
    assert response.status_code == 422
    page = soup(response)
    errors = {p["id"]: p.text for p in page.select(".field-error")}
    assert errors == {"name-error": "Name required: 1-64 characters",
                      "password-error": "Password must be at least 10 characters",
                      "confirm-error": "The repeated password does not match the password"}
    invalid = page.select("[aria-invalid=true]")
    assert [field["id"] for field in invalid] == ["name", "password", "password_confirm"]
    assert [field["id"] for field in page.select("[autofocus]")] == ["name"]
    assert not User.select().exists()


@pytest.mark.parametrize(
    ("fields", "focused", "marked"),
    [
        ({"name": ADMIN_USER, "password": "short", "password_confirm": "short"}, "password", ["password"]),
        ({"name": ADMIN_USER, "password": ADMIN_PASSWORD, "password_confirm": "typo"}, "password_confirm",
         ["password_confirm"]),
    ],
)
def test_setup_focuses_the_first_field_with_a_mistake(api, fields, focused, marked):
    page = soup(post_setup(api, **fields))
    assert [field["id"] for field in page.select("[aria-invalid=true]")] == marked
    assert [field["id"] for field in page.select("[autofocus]")] == [focused]
    assert page.select_one("#name")["value"] == ADMIN_USER, "what was typed stays"


def test_a_wrong_password_marks_and_focuses_the_password(dashboard, api):
    token = soup(api.get("/login")).select_one("input[name=csrf_token]")["value"]
    response = api.post("/login", data={"csrf_token": token, "name": ADMIN_USER, "password": "wrong password"})
    assert response.status_code == 422
    page = soup(response)
    password = page.select_one("#password")
    assert password["aria-invalid"] == "true" and password.has_attr("autofocus")
    assert page.select_one(f"#{password['aria-describedby']}").text == "Wrong name or password."
    assert "has-error" in password.parent["class"]
    assert not page.select_one("#name").has_attr("autofocus") and page.select_one("#name")["value"] == ADMIN_USER


def test_the_login_page_focuses_the_name(api, dashboard):
    page = soup(api.get("/login"))
    assert [field["id"] for field in page.select("[autofocus]")] == ["name"] and not page.select("[aria-invalid]")


def test_with_http_allowed_a_url_error_does_not_ask_for_https(dashboard):
    """The test server allows http, as `serve --dev` does."""
    page = soup(create_in_dashboard(dashboard, url="ftp://example.com/hook"))
    message = page.select_one("#wh-url-error").text
    assert "http:// or https://" in message and "must be an https://" not in message

