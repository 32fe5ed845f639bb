"""Portal links: signed, short-lived, single-use dashboard sessions scoped to one tenant,
in a cookie of their own that never replaces or signs out a dashboard session."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from bs4 import BeautifulSoup

from app.storage.models import BrowserSession, Webhook
from tests.helpers import ADMIN, serving

CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
IN_AN_IFRAME = {**CROSS_SITE, "Sec-Fetch-Dest": "iframe"}


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


def page_token(client: httpx.Client) -> str:
    """The CSRF token htmx sends from <body hx-headers> on the page this browser sees."""
    body = BeautifulSoup(client.get("/webhooks").text, "html.parser").body
    return json.loads(body["hx-headers"])["X-CSRF-Token"]


def shown_as(client: httpx.Client) -> str:
    page = client.get("/webhooks")
    assert page.status_code == 200, page.status_code
    if "Sign out" in page.text:
        return "admin"
    return "portal" if "acme" in BeautifulSoup(page.text, "html.parser").select_one(".tenant-label").text else "?"


def test_opening_a_link_while_signed_in_keeps_the_dashboard_session(dashboard, api):
    url = link(api).json()["url"]
    opened = dashboard.client.get(url, headers=CROSS_SITE)
    assert opened.status_code == 303
    set_cookies = opened.headers.get_list("set-cookie")
    assert [c.split("=", 1)[0] for c in set_cookies] == ["hookline_portal"], "the dashboard cookie is not touched"
    assert shown_as(dashboard.client) == "admin", "a signed-in browser keeps its dashboard session"

    cookies = dashboard.client.cookies
    with httpx.Client(base_url=api.base_url, cookies={"hookline_session": cookies["hookline_session"]}) as admin, \
            httpx.Client(base_url=api.base_url, cookies={"hookline_portal": cookies["hookline_portal"]}) as portal:
        assert (shown_as(admin), shown_as(portal)) == ("admin", "portal"), "both sessions work"


def test_a_link_opened_cross_site_in_an_iframe_works(api, customer):
    webhook_id = webhook_for(api, "acme", "Acme hook")
    assert customer.get(link(api).json()["url"], headers=IN_AN_IFRAME).status_code == 303
    page = customer.get("/webhooks", headers=IN_AN_IFRAME)
    assert page.status_code == 200 and "Acme hook" in page.text
    # Changes from the portal page (same-origin requests from inside the iframe) pass CSRF
    # with the portal session's token.
    toggled = customer.post(f"/webhooks/{webhook_id}/toggle", headers={"X-CSRF-Token": page_token(customer)})
    assert toggled.status_code == 303 and not Webhook.get_by_id(webhook_id).enabled


def test_a_portal_session_cannot_sign_anyone_out(dashboard, api):
    dashboard.client.get(link(api).json()["url"])
    portal_cookie = {"hookline_portal": dashboard.client.cookies["hookline_portal"]}
    with httpx.Client(base_url=api.base_url, cookies=portal_cookie) as portal:
        portal_token = page_token(portal)
        refused = dashboard.client.post("/logout", headers={"X-CSRF-Token": portal_token})
        assert refused.status_code == 403, "the portal's token is not the dashboard session's"
        assert shown_as(dashboard.client) == "admin" and shown_as(portal) == "portal"
        # A browser with only the portal cookie signs out its own portal session, nobody else.
        assert portal.post("/logout", headers={"X-CSRF-Token": portal_token}).status_code == 303
        ended = portal.get("/webhooks")
        assert ended.status_code == 403 and "portal session has ended" in ended.text
        assert shown_as(dashboard.client) == "admin"


def test_signing_out_ends_a_portal_session_opened_in_the_same_browser(dashboard, api):
    """Otherwise a link someone made the admin's browser open would take over after sign-out."""
    dashboard.client.get(link(api).json()["url"], headers=CROSS_SITE)
    portal_cookie = {"hookline_portal": dashboard.client.cookies["hookline_portal"]}
    assert dashboard.post("/logout").status_code == 303
    assert dashboard.client.get("/webhooks").headers["location"] == "/login?next=/webhooks"
    with httpx.Client(base_url=api.base_url, cookies=portal_cookie) as copy:
        assert copy.get("/webhooks").status_code == 403, "the copied portal cookie is refused too"
    assert BrowserSession.select().count() == 0


def test_an_embeddable_portal_uses_a_partitioned_cross_site_cookie(settings, clock):
    with serving(settings.replace(portal_frame_ancestors=("https://app.example.com",)), clock, run_sender=False) as api:
        url = link(api).json()["url"]
        with httpx.Client(base_url=api.base_url) as iframe:
            cookie = iframe.get(url, headers=IN_AN_IFRAME).headers["set-cookie"]
            value = cookie.split(";", 1)[0].split("=", 1)[1]
        attributes = cookie.split("; ")[1:]
        assert attributes == ["Path=/", "Max-Age=3600", "HttpOnly", "SameSite=None", "Secure", "Partitioned"]
        # httpx keeps no Secure cookie over http; a browser on https (or localhost) does.
        with httpx.Client(base_url=api.base_url, cookies={"hookline_portal": value}) as iframe:
            page = iframe.get("/webhooks", headers=IN_AN_IFRAME)
            assert page.status_code == 200 and "acme" in page.text
            assert "frame-ancestors 'self' https://app.example.com" in page.headers["content-security-policy"]


def test_a_second_link_in_the_same_browser_ends_the_first_portal_session(api, customer):
    customer.get(link(api).json()["url"])
    first = customer.cookies["hookline_portal"]
    customer.get(link(api, tenant="globex").json()["url"])
    assert BrowserSession.select().count() == 1
    with httpx.Client(base_url=api.base_url, cookies={"hookline_portal": first}) as copy:
        assert copy.get("/webhooks").status_code == 403


def test_a_copy_of_the_database_cannot_sign_a_portal_link(api, customer, settings):
    import sqlite3

    from itsdangerous import URLSafeSerializer

    from app.services.server_secrets import signing_keys
    from app.storage.models import PortalToken

    url = link(api).json()["url"]
    unused = [row.id for row in PortalToken.select()]
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as raw:
        stored = {value for table, in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  for row in raw.execute(f'SELECT * FROM "{table}"') for value in row if isinstance(value, str)}
    raw.close()
    candidates = [text for text in stored if len(text) >= 16]
    assert len(candidates) > 5
    for secret in candidates:
        forged = URLSafeSerializer(secret, salt="hookline-portal-link").dumps(unused[0])
        refused = customer.get(f"/portal/{forged}")
        assert refused.status_code == 403 and "not valid" in refused.text
    # The forger's format is right: with the real key it makes exactly the issued link.
    control = URLSafeSerializer(signing_keys("portal link"), salt="hookline-portal-link").dumps(unused[0])
    assert url.endswith(f"/portal/{control}") and customer.get(url).status_code == 303
