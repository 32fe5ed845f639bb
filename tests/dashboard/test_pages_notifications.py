"""The notifications page: whom the tenant's mail goes to, and a banner when mail is off or
not getting out (read from the outbox, whichever process failed to send). And the webhook
form's events, where "All events" leaves the operational ones to tick."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from app.delivery.types import WebhookDisabled
from app.services import notifications
from app.services.users import create_user
from app.storage.models import Tenant, Webhook
from tests.helpers import ADMIN, free_port, make_webhook, soup


@pytest.fixture
def mail_on() -> bool:
    return True


@pytest.fixture
def settings(settings, mail_on):
    """Mail on, to a port nothing listens on (a test parametrised with mail_on=False: off)."""
    if not mail_on:
        return settings
    return settings.replace(smtp_url=f"smtp://127.0.0.1:{free_port()}", mail_from="hookline@example.com")


def default_tenant() -> Tenant:
    return Tenant.get(Tenant.slug == "default")


def test_the_default_is_the_users_whose_names_are_addresses(dashboard, clock):
    create_user("ops@example.com", "o" * 12, default_tenant(), clock())
    page = soup(dashboard.get("/settings/notifications"))
    assert page.select_one("nav.topnav a[aria-current=page]").text == "Notifications"
    assert page.select_one("input[name=source][value=users]").has_attr("checked")
    assert page.select_one("#recipients").text.split() == ["Mail", "goes", "to:", "ops@example.com."]
    assert page.select_one("#mail-banner") is None, "mail is on and nothing failed"


def test_setting_addresses_and_going_back_to_the_default(dashboard):
    saved = dashboard.post("/settings/notifications", {"source": "list", "addresses": "a@example.com\nb@example.org, "})
    assert (saved.status_code, saved.headers["location"]) == (303, "/settings/notifications")
    assert default_tenant().notify == ["a@example.com", "b@example.org"]
    page = soup(dashboard.get("/settings/notifications"))
    assert page.select_one("#notify-addresses").text == "a@example.com\nb@example.org"
    assert page.select_one("input[name=source][value=list]").has_attr("checked")

    fragment = dashboard.post("/settings/notifications", {"source": "users", "addresses": ""}, htmx=True)
    assert fragment.status_code == 200 and "saved" in json.loads(fragment.headers["hx-trigger"])["toast"]["message"]
    assert soup(fragment).select_one("#notifications") and not soup(fragment).select_one("h1")
    assert default_tenant().notify is None
    assert "No one gets mail: no user of this tenant has an address as user name." in soup(fragment).text


def test_a_bad_address_is_named_and_nothing_is_saved(dashboard):
    refused = dashboard.post("/settings/notifications", {"source": "list", "addresses": "ok@example.com\nnot an address"})
    assert refused.status_code == 422
    error = soup(refused).select_one("#notify-addresses-error").text
    assert error == "Addresses: [1]: 'not an address' is not an address such as ops@example.com"
    assert soup(refused).select_one("#notify-addresses").text == "ok@example.com\nnot an address"
    assert default_tenant().notify is None


def test_saving_needs_the_csrf_token(dashboard):
    assert dashboard.post("/settings/notifications", {"source": "list", "addresses": ""}, csrf=False).status_code == 403
    assert default_tenant().notify is None


def test_the_banner_shows_an_smtp_server_that_cannot_be_reached(dashboard, settings, clock):
    notifications.set_recipients(default_tenant().id, ["ops@example.com"])
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook", name="Billing")
    notifications.queue_notice(WebhookDisabled(webhook.id, webhook.tenant_id, "Billing", webhook.url, "410 Gone", 1,
                                               clock() - timedelta(seconds=1)), settings)
    assert notifications.send_due_mail(clock(), settings).failed == 1

    banner = soup(dashboard.get("/settings/notifications")).select_one("#mail-banner")
    assert banner["class"] == ["banner", "banner-danger"]
    assert "1 notice waiting to be retried" in banner.text and "ConnectionRefusedError" in banner.text


@pytest.mark.parametrize("mail_on", [False])
def test_mail_off_says_so(dashboard):
    banner = soup(dashboard.get("/settings/notifications")).select_one("#mail-banner")
    assert banner["class"] == ["banner", "banner-warning"] and "Mail is off" in banner.text


def test_not_in_the_customer_portal(dashboard, api):
    url = api.post("/api/v1/tenants/default/portal-link", headers=ADMIN).json()["url"]
    with httpx.Client(base_url=api.base_url) as portal:
        assert portal.get(url).status_code == 303
        token = json.loads(soup(portal.get("/webhooks")).body["hx-headers"])["X-CSRF-Token"]
        assert not soup(portal.get("/webhooks")).select_one("a[href='/settings/notifications']")
        for refused in (portal.get("/settings/notifications"),
                        portal.post("/settings/notifications", data={"source": "list", "addresses": "x@example.com",
                                                                    "csrf_token": token})):
            assert refused.status_code == 403 and "not available in the customer portal" in refused.text
    assert default_tenant().notify is None


def test_all_events_leaves_the_operational_ones_to_tick(dashboard):
    """`*` does not cover Hookline's own events, so the form keeps them next to it."""
    page = soup(dashboard.get("/webhooks/new"))
    outside = {box["value"] for box in page.select(".event-operational input[name=events]")}
    assert outside == {"webhook.*", "delivery.*", "delivery.exhausted", "webhook.disabled", "webhook.failing",
                       "webhook.recovered", "webhook.secret_rotated"}
    created = dashboard.post("/webhooks", {"name": "Ops", "url": "http://127.0.0.1:9/hook",
                                           "events": ["*", "order.created", "webhook.disabled"]})
    assert created.status_code == 201
    assert Webhook.get(Webhook.name == "Ops").events == ["*", "webhook.disabled"]
