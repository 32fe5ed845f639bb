"""Portal links: signed, short-lived, single-use dashboard sessions scoped to one tenant."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import ADMIN


def link(api, tenant="acme", headers=ADMIN) -> httpx.Response:
    return api.post(f"/api/v1/tenants/{tenant}/portal-link", headers=headers)


@pytest.fixture
def customer(api):
    """A separate browser (cookie jar) for the app's customer."""
    with httpx.Client(base_url=api.base_url) as client:
        yield client


def webhook_for(api, tenant: str, name: str) -> str:
    response = api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "name": name, "tenant": tenant}, headers=ADMIN)
    return response.json()["id"]


def test_admin_key_gets_a_link_that_opens_the_tenants_dashboard(api, customer):
    mine = webhook_for(api, "acme", "Acme hook")
    theirs = webhook_for(api, "globex", "Globex hook")
    response = link(api)
    assert response.status_code == 201
    url = response.json()["url"]
    assert url.startswith(str(api.base_url).rstrip("/") + "/portal/") and response.json()["expires_at"].endswith("Z")

    opened = customer.get(url)
    assert (opened.status_code, opened.headers["location"]) == (303, "/webhooks")
    page = customer.get("/webhooks").text
    assert "Acme hook" in page and "Globex hook" not in page
    assert customer.get(f"/webhooks/{mine}/edit").status_code == 200
    assert customer.get(f"/webhooks/{theirs}/edit").status_code == 404
    assert customer.get("/api-keys").status_code == 403
    assert 'href="/api-keys"' not in page, "the portal never shows API keys"


def test_links_need_an_admin_key(api, tenant_key):
    assert link(api, headers=tenant_key).status_code == 403
    assert link(api, headers={}).status_code == 401


def test_a_link_works_once(api, customer):
    url = link(api).json()["url"]
    assert customer.get(url).status_code == 303
    with httpx.Client(base_url=api.base_url) as someone_else:
        again = someone_else.get(url)
        assert again.status_code == 403 and "already used" in again.text
        assert someone_else.get("/webhooks").status_code == 303  # to login: no session


def test_expired_and_tampered_links_are_refused(api, customer, clock, settings):
    url = link(api).json()["url"]
    assert customer.get(url[:-2] + ("AA" if not url.endswith("AA") else "BB")).status_code == 403
    clock.advance(settings.portal_link_ttl + 1)
    assert customer.get(url).status_code == 403


def test_portal_session_ends_after_its_ttl(api, customer, clock, settings):
    customer.get(link(api).json()["url"])
    assert customer.get("/webhooks").status_code == 200
    clock.advance(settings.portal_session_ttl + 1)
    ended = customer.get("/webhooks")
    assert ended.status_code == 403 and "portal session has ended" in ended.text
    assert customer.get("/webhooks").status_code == 303, "the session is gone"


def test_concurrent_opens_of_one_link_sign_in_only_one_browser(api):
    url = link(api).json()["url"]

    def open_link(_):
        with httpx.Client(base_url=api.base_url) as browser:
            return browser.get(url).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(open_link, range(6)))
    assert statuses == [303] + [403] * 5


def test_a_link_for_an_invalid_tenant_name_is_422(api):
    response = link(api, tenant="Not A Slug")
    assert response.status_code == 422 and response.json()["error"]["field"] == "tenant"
