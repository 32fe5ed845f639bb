"""Delivery log, delivery detail, resend and stats pages."""

from __future__ import annotations

from datetime import timedelta

import httpx
from bs4 import BeautifulSoup

from app.models import FAILED, PENDING, SUCCEEDED, Delivery, Tenant, Webhook
from app.policy import RetryPolicy
from app.services.delivery_queue import AttemptResult, claim_due, record_results
from app.services.events import emit_event
from app.services.stats import chart_bars, percentile, webhook_stats
from app.services.users import create_user
from app.services.webhooks import create_webhook
from tests.conftest import sign_in


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def setup_deliveries(settings, clock, statuses=(200, 500, None)) -> Webhook:
    """One webhook and one delivery per entry: an attempt that got that status (None: refused)."""
    tenant = Tenant.get(Tenant.slug == "default")
    webhook = create_webhook(tenant, {"url": "http://127.0.0.1:9/hook", "name": "Billing"}, settings, clock()).webhook
    policy = RetryPolicy(settings.retry_schedule, 0)
    for index, status in enumerate(statuses):
        clock.advance(1)
        emit_event(tenant, "order.paid" if index % 2 else "order.created", {"n": index}, settings, clock())
        (claimed,) = claim_due(clock(), 1, settings.lease_seconds)
        result = AttemptResult(
            started_at=clock(), duration_ms=10 * (index + 1), request_headers={"webhook-id": claimed.event_id},
            status_code=status, response_body='{"ok": true}' if status == 200 else "boom",
            error=None if status else "connection refused",
        )
        record_results([(claimed, result)], clock(), policy, lambda: 0.5)
    return webhook


def test_log_lists_deliveries_newest_first(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock)
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/deliveries"))
    rows = page.select("#delivery-list tbody tr")
    assert [r.select_one(".pill").text for r in rows] == [PENDING, PENDING, SUCCEEDED]
    assert [r.select_one("td[data-label=Response]").text.strip() for r in rows] == ["connection refused", "500", "200"]
    assert rows[2].select_one("td[data-label=Duration]").text == "10 ms"
    assert rows[0].select_one("time")["title"].endswith("UTC")
    assert page.select_one(".tabs a[aria-current=page]").text == "Deliveries"


def test_filters_and_partial(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock)
    url = f"/webhooks/{webhook.id}/deliveries"
    succeeded = soup(dashboard.get(url, params={"status": "succeeded"})).select("#delivery-list tbody tr")
    assert len(succeeded) == 1
    paid = dashboard.get(url, params={"event_type": "order.paid"}, htmx=True)
    assert "<html" not in paid.text
    assert [c.text for c in soup(paid).select("tbody code")] == ["order.paid"]


def test_list_polls_only_while_something_is_pending(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock)
    url = f"/webhooks/{webhook.id}/deliveries"
    assert "every 2s" in soup(dashboard.get(url)).select_one("#delivery-list")["hx-trigger"]
    Delivery.update(status=FAILED).where(Delivery.status == PENDING).execute()
    assert "every 2s" not in soup(dashboard.get(url)).select_one("#delivery-list")["hx-trigger"]


def test_pages_of_older_deliveries(dashboard, settings, clock):
    from app.web import pages_deliveries

    webhook = setup_deliveries(settings, clock, statuses=(200,) * (pages_deliveries.PAGE_SIZE + 2))
    first = soup(dashboard.get(f"/webhooks/{webhook.id}/deliveries"))
    assert len(first.select("tbody tr")) == pages_deliveries.PAGE_SIZE
    second = soup(dashboard.get(first.select_one(".pager a")["href"]))
    assert len(second.select("tbody tr")) == 2 and not second.select_one(".pager")


def test_detail_shows_every_attempt(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(500,))
    delivery = Delivery.get()
    clock.advance(10)
    (claimed,) = claim_due(clock(), 1, settings.lease_seconds)
    result = AttemptResult(clock(), 7, {"webhook-id": claimed.event_id}, 200, '{"received": true}')
    record_results([(claimed, result)], clock(), RetryPolicy(settings.retry_schedule, 0), lambda: 0.5)

    page = soup(dashboard.get(f"/deliveries/{delivery.id}"))
    attempts = page.select("section.attempt")
    assert [a.select_one("h4 .pill").text for a in attempts] == ["200", "500"]
    assert '"received": true' in attempts[0].text, "response bodies are pretty-printed"
    assert f"webhook-id: {delivery.event_id}" in attempts[0].text
    assert '"data": {\n    "n": 0\n  }' in page.select_one("pre.payload").text
    assert dashboard.get(f"/deliveries/{delivery.id}", htmx=True).text.count("<html") == 0
    assert webhook.id in page.select_one("a[data-close-modal]")["href"]


def test_resend(dashboard, settings, clock):
    setup_deliveries(settings, clock, statuses=(200,))
    delivery = Delivery.get()
    refused = dashboard.post(f"/deliveries/{delivery.id}/resend", {}, csrf=False)
    assert refused.status_code == 403 and Delivery.get().status == SUCCEEDED

    plain = dashboard.post(f"/deliveries/{delivery.id}/resend", {})
    assert plain.status_code == 303 and Delivery.get().status == PENDING
    assert "Resend queued" in dashboard.get(plain.headers["location"]).text

    Delivery.update(status="delivering").execute()
    busy = dashboard.post(f"/deliveries/{delivery.id}/resend", {}, htmx=True)
    assert busy.status_code == 204 and "being sent right now" in busy.headers["hx-trigger"]


def test_other_tenants_logs_are_404(dashboard, api, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200,))
    delivery = Delivery.get()
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=api.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        for url in (f"/webhooks/{webhook.id}/deliveries", f"/webhooks/{webhook.id}/stats", f"/deliveries/{delivery.id}"):
            assert bob.get(url).status_code == 404, url
        assert bob.post(f"/deliveries/{delivery.id}/resend", {}).status_code == 404
    assert Delivery.get().status == SUCCEEDED


def test_stats_page_and_numbers(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200, 200, 500, None))
    numbers = webhook_stats(webhook.id, clock())
    assert numbers.counts_24h == {"succeeded": 2, "failed": 0, "pending": 2, "delivering": 0}
    assert (numbers.p50_ms, numbers.p95_ms) == (20, 40)
    assert sum(h.succeeded for h in numbers.hours) == 2 and sum(h.failed for h in numbers.hours) == 2
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/stats"))
    assert len(page.select("svg.chart g.hour")) == 24
    assert [s.text for s in page.select(".stat-value")][:3] == ["2", "0", "2"]
    clock.advance(timedelta(days=2).total_seconds())
    assert webhook_stats(webhook.id, clock()).counts_24h["succeeded"] == 0


def test_percentile_and_chart_geometry():
    assert percentile([], 0.5) is None
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3 and percentile(list(range(1, 101)), 0.95) == 95
    from datetime import datetime, timezone

    from app.services.stats import CHART_HEIGHT, HourBucket

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    bars = chart_bars([HourBucket(start, 3, 1), HourBucket(start, 0, 0)])
    assert (bars[0].ok_height, bars[0].failed_height, bars[0].failed_y) == (CHART_HEIGHT * 3 // 4, CHART_HEIGHT // 4, 0)
    assert (bars[1].ok_height, bars[1].failed_height) == (0, 0)
