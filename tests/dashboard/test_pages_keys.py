"""The API keys page: created keys are shown once, listed by prefix and last four characters, and can be revoked."""

from __future__ import annotations

import json

import httpx
import pytest
from bs4 import BeautifulSoup

from app.services.users import create_user
from app.storage.models import ApiKey, Tenant
from tests.helpers import ADMIN, sign_in


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def test_create_shows_the_key_once_and_it_works(dashboard, api):
    created = dashboard.post("/api-keys", {"name": "checkout"})
    assert created.status_code == 201
    plaintext = soup(created).select_one("#new-api-key")["value"]
    assert plaintext.startswith("hl_") and "you will not see this key again" in created.text
    assert soup(created).select_one("button[data-copy-target=new-api-key]")

    page = dashboard.get("/api-keys")
    assert plaintext not in page.text and f"{plaintext[:11]}…{plaintext[-4:]}" in page.text, "prefix and last 4 only"
    assert api.get("/api/v1/webhooks", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200


def test_revoke(dashboard, api):
    plaintext = soup(dashboard.post("/api-keys", {"name": "old"}, htmx=True)).select_one("#new-api-key")["value"]
    key = ApiKey.get(ApiKey.name == "old")
    response = dashboard.post(f"/api-keys/{key.id}/revoke", {}, htmx=True)
    assert "revoked" in response.headers["hx-trigger"]
    assert soup(response).select_one(f"#key-{key.id} .pill").text == "revoked"
    assert api.get("/api/v1/webhooks", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401


def test_a_key_in_use_is_refused_as_soon_as_it_is_revoked(dashboard, api):
    """Keys that authenticated are remembered (services/api_keys.KeyCache); revoking one in
    this process must not wait for that memory to expire."""
    plaintext = soup(dashboard.post("/api-keys", {"name": "busy"}, htmx=True)).select_one("#new-api-key")["value"]
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert api.post("/api/v1/events", json={"type": "order.paid"}, headers=headers).status_code == 202
    dashboard.post(f"/api-keys/{ApiKey.get(ApiKey.name == 'busy').id}/revoke", {})
    assert api.post("/api/v1/events", json={"type": "order.paid"}, headers=headers).status_code == 401


def test_creating_a_key_needs_the_csrf_token(dashboard):
    assert dashboard.post("/api-keys", {"name": "x"}, csrf=False).status_code == 403
    assert not ApiKey.select().where(ApiKey.name == "x").exists()


def test_tenant_users_see_and_revoke_only_their_keys(dashboard, api, clock):
    dashboard.post("/api-keys", {"name": "default-key"})
    theirs = ApiKey.get(ApiKey.name == "default-key")
    admin_key = ApiKey.get(ApiKey.tenant.is_null())
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=api.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        page = bob.get("/api-keys").text
        assert "default-key" not in page and admin_key.prefix not in page
        for key in (theirs, admin_key):
            assert bob.post(f"/api-keys/{key.id}/revoke", {}).status_code == 404
    assert ApiKey.get_by_id(theirs.id).revoked_at is None


def test_admins_see_admin_keys(dashboard):
    admin_key = ApiKey.get(ApiKey.tenant.is_null())
    row = soup(dashboard.get("/api-keys")).select_one(f"#key-{admin_key.id}")
    assert "admin" in row.text and f"{admin_key.prefix}…" in row.text


def test_plain_forms_get_the_whole_page_and_htmx_only_the_keys(dashboard):
    plain = soup(dashboard.post("/api-keys", {"name": "plain"}))
    assert plain.select_one("h1").text == "API keys" and plain.select_one("#api-keys #new-api-key")
    fragment = dashboard.post("/api-keys", {"name": "htmx"}, htmx=True)
    assert "HX-Request" in fragment.headers["vary"] and "<html" not in fragment.text
    assert soup(fragment).select_one("#api-keys #new-api-key")


def test_plain_form_revoke_redirects_with_a_message(dashboard):
    dashboard.post("/api-keys", {"name": "old"})
    key = ApiKey.get(ApiKey.name == "old")
    response = dashboard.post(f"/api-keys/{key.id}/revoke", {})
    assert (response.status_code, response.headers["location"]) == (303, "/api-keys")
    banner = soup(dashboard.get("/api-keys")).select_one(".banner")
    assert f"{key.hint} revoked" in banner.text
    assert not soup(dashboard.get("/api-keys")).select_one(f"#key-{key.id} form"), "nothing left to revoke"


def test_a_portal_session_never_reaches_api_keys(dashboard, api):
    dashboard.post("/api-keys", {"name": "default-key"})
    key = ApiKey.get(ApiKey.name == "default-key")
    url = api.post("/api/v1/tenants/default/portal-link", headers=ADMIN).json()["url"]
    with httpx.Client(base_url=api.base_url) as portal:
        assert portal.get(url).status_code == 303
        # A portal page has no form with the token; htmx sends it from <body hx-headers>.
        token = json.loads(soup(portal.get("/webhooks")).body["hx-headers"])["X-CSRF-Token"]
        refusals = [
            portal.get("/api-keys"),
            portal.post("/api-keys", data={"name": "sneaky", "csrf_token": token}),
            portal.post(f"/api-keys/{key.id}/revoke", headers={"X-CSRF-Token": token, "HX-Request": "true"}),
        ]
        for refused in refusals:  # refused by the page itself, not by the CSRF check
            assert refused.status_code == 403 and "not available in the customer portal" in refused.text
    assert not ApiKey.select().where(ApiKey.name == "sneaky").exists()
    assert ApiKey.get_by_id(key.id).revoked_at is None


@pytest.mark.postgres
def test_keys_show_who_made_them_when_and_their_last_use(dashboard, api, clock):
    """Issue 16, defect 12: created by (a dashboard user, the command line or the
    configuration), created at, last used to the minute."""
    plaintext = soup(dashboard.post("/api-keys", {"name": "checkout"})).select_one("#new-api-key")["value"]
    key = ApiKey.get(ApiKey.name == "checkout")
    assert key.created_by == "ada" and key.last_used_at is None
    row = soup(dashboard.get("/api-keys")).select_one(f"#key-{key.id}")
    assert row.select_one("td[data-label=Created] .key-creator").text == "by ada"
    assert row.select_one("td[data-label=Created] time")["datetime"] == key.created_at.isoformat()
    assert row.select_one("td[data-label='Last used']").text.strip() == "never"
    admin_row = soup(dashboard.get("/api-keys")).select_one(f"#key-{ApiKey.get(ApiKey.tenant.is_null()).id}")
    assert admin_row.select_one(".key-creator").text == "by configuration"

    headers = {"Authorization": f"Bearer {plaintext}"}
    assert api.get("/api/v1/webhooks", headers=headers).status_code == 200
    used_at = ApiKey.get_by_id(key.id).last_used_at
    assert used_at == clock()
    clock.advance(30)  # past the cache's recheck, within the minute: no write
    assert api.get("/api/v1/webhooks", headers=headers).status_code == 200
    assert ApiKey.get_by_id(key.id).last_used_at == used_at
    clock.advance(60)
    assert api.get("/api/v1/webhooks", headers=headers).status_code == 200
    assert ApiKey.get_by_id(key.id).last_used_at == clock()
    last_used = soup(dashboard.get("/api-keys")).select_one(f"#key-{key.id} td[data-label='Last used'] time")
    assert last_used["datetime"] == clock().isoformat() and last_used.text == "0 s ago"


def test_revoked_keys_fold_into_their_own_section(dashboard):
    dashboard.post("/api-keys", {"name": "kept"})
    dashboard.post("/api-keys", {"name": "gone"})
    gone = ApiKey.get(ApiKey.name == "gone")
    dashboard.post(f"/api-keys/{gone.id}/revoke", {})
    page = soup(dashboard.get("/api-keys"))
    active = [tr["id"] for tr in page.select("#active-keys tbody tr")]
    assert f"key-{ApiKey.get(ApiKey.name == 'kept').id}" in active and f"key-{gone.id}" not in active
    section = page.select_one("details#revoked-keys")
    assert not section.has_attr("open"), "folded until asked for"
    assert section.summary.text.split() == ["Revoked", "keys", "(1)"]
    assert [tr["id"] for tr in section.select("tbody tr")] == [f"key-{gone.id}"]
    assert not section.select("button"), "nothing to revoke twice"


def test_no_revoked_section_without_revoked_keys(dashboard):
    assert soup(dashboard.get("/api-keys")).select_one("#revoked-keys") is None
