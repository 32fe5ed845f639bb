"""A portal link in a cross-site iframe, in real Chromium, next to a signed-in admin tab.

The customer's app is served from http://localhost:<port> and Hookline from
http://127.0.0.1:<port>: different sites, so the iframe is a third-party context where
only the portal's `SameSite=None; Secure; Partitioned` cookie is sent (Chromium keeps
Secure cookies from loopback over http).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.rules.clock import system_clock
from app.services.users import create_first_admin
from app.storage.models import Webhook
from tests.helpers import ADMIN, ADMIN_PASSWORD, ADMIN_USER, DESKTOP, TIMEOUT_MS, ServerThread, serving


class CustomerApp(ServerThread):
    """The site that embeds the portal: one page with an iframe to `portal_url`."""

    def __init__(self):
        self.portal_url = ""
        super().__init__(self.app)

    async def app(self, scope, receive, send):
        body = (f'<!doctype html><title>Customer app</title>'
                f'<iframe id="portal" src="{self.portal_url}" width="1200" height="700"></iframe>')
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": body.encode()})


@pytest.fixture
def customer_app():
    server = CustomerApp().start()
    yield server
    server.stop()


def test_an_embedded_portal_works_beside_a_signed_in_admin(browser, settings, customer_app):
    embedding = f"http://localhost:{customer_app.port}"
    with serving(settings.replace(portal_frame_ancestors=(embedding,)), system_clock, run_sender=False) as api:
        hookline = str(api.base_url).rstrip("/")
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, system_clock())
        hook = {"url": "http://127.0.0.1:9/h", "name": "Acme hook", "tenant": "acme"}
        webhook = api.post("/api/v1/webhooks", json=hook, headers=ADMIN).json()
        customer_app.portal_url = api.post("/api/v1/tenants/acme/portal-link", headers=ADMIN).json()["url"]

        context = browser.new_context(viewport=DESKTOP)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            admin = context.new_page()
            admin.goto(f"{hookline}/login")
            admin.fill("#name", ADMIN_USER)
            admin.fill("#password", ADMIN_PASSWORD)
            admin.get_by_role("button", name="Sign in").click()
            expect(admin.get_by_role("button", name="Sign out")).to_be_visible()

            customer = context.new_page()
            customer.goto(f"{embedding}/")
            portal = customer.frame_locator("#portal")
            expect(portal.locator(".tenant-label")).to_have_text("acme")
            expect(portal.get_by_role("button", name="Sign out")).to_have_count(0)
            portal.locator(f"#webhook-{webhook['id']} .toggle").click()  # an htmx POST with the portal's CSRF token
            expect(portal.get_by_role("switch")).not_to_be_checked()

            admin.reload()
            expect(admin.get_by_role("button", name="Sign out")).to_be_visible()  # still signed in
        finally:
            context.close()
        assert not Webhook.get_by_id(webhook["id"]).enabled
