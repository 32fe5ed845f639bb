"""The Overview page and "/" as the landing page, over deliveries recorded as the sender
records them (tests/helpers.py `answer_round`), the sender itself not running."""

from __future__ import annotations

import httpx
import pytest

from app.services.tenants import get_or_create_tenant
from app.services.users import create_user
from app.services.webhooks import create_webhook, update_webhook
from app.storage.models import FAILED, Delivery, Tenant
from tests.helpers import ADMIN, answer_round, sign_in, soup


def webhook(tenant, settings, clock, name, **fields):
    return create_webhook(tenant, {"url": f"http://127.0.0.1:9/{name.lower().replace(' ', '-')}", "name": name, "retry_schedule": [0],
                                   **fields}, settings, clock()).webhook


@pytest.fixture
def three(dashboard, settings, clock):
    """Healthy Billing, Orders failing with 500s, Legacy switched off by hand, Search slow
    (the tests' timeout is 2 s)."""
    tenant = Tenant.get(Tenant.slug == "default")
    hooks = {name: webhook(tenant, settings, clock, name) for name in ("Billing", "Orders", "Legacy", "Search")}
    answer_round(tenant, settings, clock, {hooks["Billing"].id: (200, 15), hooks["Orders"].id: (500, 40),
                                           hooks["Legacy"].id: (200, 15), hooks["Search"].id: (200, 1600)})
    update_webhook(hooks["Legacy"].id, tenant.id, {"enabled": False}, settings, clock())
    answer_round(tenant, settings, clock, {hooks["Billing"].id: (200, 15), hooks["Orders"].id: (None, 5),
                                           hooks["Search"].id: (200, 1200)})
    return hooks


def test_home_is_the_webhook_list_until_there_is_a_webhook(api, dashboard, settings, clock):
    with httpx.Client(base_url=api.base_url) as stranger:
        assert stranger.get("/").headers["location"] == "/login?next=/"  # and back here after
    assert dashboard.get("/").headers["location"] == "/webhooks"
    webhook(Tenant.get(Tenant.slug == "default"), settings, clock, "First")
    assert dashboard.get("/").headers["location"] == "/overview"
    page = soup(dashboard.get("/overview"))
    nav = page.select(".topnav a")
    assert (nav[0].text, nav[0]["href"], nav[0].get("aria-current")) == ("Overview", "/overview", "page")
    assert page.select_one("a.brand")["href"] == "/"

    get_or_create_tenant("globex", clock())
    switched = dashboard.post("/tenant", {"tenant": "globex"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/")
    assert dashboard.get("/").headers["location"] == "/webhooks"  # globex has no webhook yet


def test_overview_shows_rates_attention_and_failures(three, dashboard):
    page = soup(dashboard.get("/overview"))
    day = page.select_one("#totals-24h")
    assert {dd["data-count"]: dd.text for dd in day.select("dd")} == {"delivered": "5", "failed": "2", "pending": "0"}
    assert day.select_one("[data-rate]").text == "28.6%"

    items = page.select("#attention .attention-item")
    assert [(i.select_one(".attention-name").text, [p.text for p in i.select(".pill")]) for i in items] == [
        ("Orders", ["failing"]), ("Legacy", ["disabled"]), ("Search", ["slow"])]
    orders, legacy, search = items
    assert search.select_one("[data-why=slow]").text == "Slow: p95 1600 ms, over half its timeout (1000 ms)"
    assert orders.select_one(".attention-name")["href"] == f"/webhooks/{three['Orders'].id}/deliveries"
    assert "2 deliveries failed in a row" in orders.select_one("[data-why=failing]").text
    assert orders.select_one(".attention-error a").text == "connection refused"
    assert legacy.select_one("[data-why=disabled]").text.startswith("Disabled in its settings")
    assert page.select_one("#attention-title .count-badge").text == "3"

    rows = page.select("#failure-table tbody tr")
    assert [r.select_one("td[data-label=Webhook]").text for r in rows] == ["Orders", "Orders"]
    errors = [r.select_one("td[data-label=Error]").text.split("·")[0].split(maxsplit=1)[1].strip() for r in rows]
    assert errors == ["connection refused", "HTTP 500"]
    newest = rows[0].select_one("td[data-label=Delivery] a")
    assert newest["href"] == f"/deliveries/{newest.text}" == orders.select_one(".attention-error a")["href"]
    assert dashboard.get(newest["href"]).status_code == 200
    assert [th["scope"] for th in page.select("#failure-table thead th")] == ["col"] * 5
    assert page.select_one(".period-switch a[aria-current=page]").text == "Last 24 hours"


def test_an_empty_and_a_quiet_overview_say_so(dashboard, settings, clock):
    page = soup(dashboard.get("/overview"))
    assert page.select_one("#attention .empty-state a")["href"] == "/webhooks"
    assert page.select_one("#totals-24h [data-rate]").text == "—"  # nothing finished: no rate
    for period in ("30d", "1h", ""):
        refused = dashboard.get("/overview", params={"period": period})
        assert refused.status_code == 422 and refused.text.startswith("period: must be one of 24h, 7d"), period

    tenant = Tenant.get(Tenant.slug == "default")
    hook = webhook(tenant, settings, clock, "Billing")
    answer_round(tenant, settings, clock, {hook.id: (200, 10)})
    page = soup(dashboard.get("/overview", params={"period": "7d"}))
    assert page.select_one(".overview-all-good").text.startswith("All 1 webhook look healthy")
    assert page.select_one("#no-failures").text == "No failures in the last 7 days."
    assert page.select_one("#totals-7d [data-rate]").text == "0.0%"
    assert page.select_one(".period-switch a[aria-current=page]").text == "Last 7 days"


def test_a_tenant_user_sees_only_their_tenants_webhooks(three, api, settings, clock):
    acme = get_or_create_tenant("acme", clock())
    theirs = webhook(acme, settings, clock, "Acme hook")
    answer_round(acme, settings, clock, {theirs.id: (503, 10)})
    create_user("wile", "w" * 12, acme, clock())
    with httpx.Client(base_url=api.base_url) as browser:
        page = soup(sign_in(browser, "wile", "w" * 12).get("/overview"))
    assert [i.select_one(".attention-name").text for i in page.select(".attention-item")] == ["Acme hook"]
    assert [r.select_one("td[data-label=Webhook]").text for r in page.select("#failure-table tbody tr")] == ["Acme hook"]
    assert {dd["data-count"]: dd.text for dd in page.select("#totals-7d dd")} == {"delivered": "0", "failed": "1",
                                                                                 "pending": "0"}
    assert all(h.id not in str(page) for h in three.values())


def test_a_portal_viewer_sees_the_overview_of_their_tenant_only(three, api, settings, clock):
    link = api.post("/api/v1/tenants/acme/portal-link", headers=ADMIN).json()["url"]
    acme = Tenant.get(Tenant.slug == "acme")
    theirs = webhook(acme, settings, clock, "Acme hook")
    answer_round(acme, settings, clock, {theirs.id: (None, 10)})
    ours = Delivery.get((Delivery.webhook == three["Orders"].id) & (Delivery.status == FAILED))
    with httpx.Client(base_url=api.base_url) as customer:
        customer.get(link)
        assert customer.get("/").headers["location"] == "/overview"
        page = soup(customer.get("/overview"))
        (row,) = page.select("#failure-table tbody tr")
        assert customer.get(row.select_one("td[data-label=Delivery] a")["href"]).status_code == 200
        assert customer.get(f"/deliveries/{ours.id}").status_code == 404
    assert [i.select_one(".attention-name").text for i in page.select(".attention-item")] == ["Acme hook"]
    assert all(h.id not in str(page) for h in three.values())
