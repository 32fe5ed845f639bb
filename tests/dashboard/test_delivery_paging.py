"""The delivery log pages by its sort key, (created_at, id), so no row is skipped or
repeated at a page edge: not when a thousand rows share one created_at, and not when ids
and created_at disagree (another process's batch, whose `now` was taken before its ids).
Walked through the service, the API and the dashboard with pages of one row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bs4 import BeautifulSoup

from app.services.deliveries import Position, list_deliveries
from app.services.events import EmitItem, emit_event, emit_events
from app.services.webhooks import create_webhook
from app.storage.models import Delivery, Tenant
from app.web.pages import deliveries as pages_deliveries
from tests.helpers import ADMIN

pytestmark = pytest.mark.postgres  # the database matters: run again by --db=postgres

SAME_MILLISECOND = 1000


def make_log(settings, clock, same_instant: int = SAME_MILLISECOND):
    """`same_instant` deliveries sharing one created_at, then three made later but dated a
    second earlier, then three dated a second later. Returns the webhook and the log's
    order, newest first."""
    tenant = Tenant.get(Tenant.slug == "default")
    webhook = create_webhook(tenant, {"url": "http://127.0.0.1:9/hook"}, settings, clock()).webhook
    emit_events([EmitItem(tenant, "order.created", {"n": n}) for n in range(same_instant)], settings, clock())
    for offset in (-1, 1):
        for n in range(3):
            emit_event(tenant, "order.paid", {"offset": offset, "n": n}, settings, clock() + timedelta(seconds=offset))
    rows = list(Delivery.select().where(Delivery.webhook == webhook.id))
    newest_first = [d.id for d in sorted(rows, key=lambda d: (d.created_at, d.id), reverse=True)]
    later_but_older = [d for d in rows if d.created_at < clock()]
    assert len(newest_first) == same_instant + 6
    assert min(d.id for d in later_but_older) > max(d.id for d in rows if d.created_at == clock()), \
        "the setup must make ids and created_at disagree"
    return webhook, newest_first


def test_the_service_walks_every_row_once_in_order_with_pages_of_one(db, settings, clock):
    webhook, expected = make_log(settings, clock)
    seen, cursor = [], None
    for _ in range(len(expected) + 1):
        page = list_deliveries(webhook, limit=1, before=cursor)
        seen += [d.id for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected


def test_the_api_walks_every_row_once_in_order_with_pages_of_one(api, settings, clock):
    webhook, expected = make_log(settings, clock, same_instant=200)
    url = f"/api/v1/webhooks/{webhook.id}/deliveries"
    seen, params = [], {"limit": 1}
    for _ in range(len(expected) + 1):
        body = api.get(url, params=params, headers=ADMIN).json()
        seen += [d["id"] for d in body["data"]]
        if body["next_cursor"] is None:
            break
        params = {"limit": 1, "before": body["next_cursor"]}
    assert seen == expected


def test_the_dashboard_walks_every_row_once_in_order_and_each_page_refreshes_to_itself(
    dashboard, settings, clock, monkeypatch
):
    monkeypatch.setattr(pages_deliveries, "PAGE_SIZE", 1)
    webhook, expected = make_log(settings, clock, same_instant=40)
    seen, href = [], f"/webhooks/{webhook.id}/deliveries"
    for _ in range(len(expected) + 1):
        page = BeautifulSoup(dashboard.get(href).text, "html.parser")
        body = page.select_one("#delivery-table tbody")
        rows = [tr["id"].removeprefix("delivery-") for tr in body.select("tr")]
        refreshed = BeautifulSoup(dashboard.get(body["hx-get"], htmx=True).text, "html.parser")
        assert [tr["id"].removeprefix("delivery-") for tr in refreshed.select("tr")] == rows
        seen += rows
        more = page.select_one("#delivery-pager a")
        if more is None:
            break
        href = more["href"]
    assert seen == expected


@pytest.mark.parametrize("cursor", ["dlv_01M8SPZAZVW8V4BZNAKYB70D09", "12-evt_01M8SPZAZVW8V4BZNAKYB70D09", "x", "-1-dlv_"])
def test_a_cursor_that_the_log_did_not_make_is_a_422_naming_before(api, cursor):
    webhook = api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=ADMIN).json()
    response = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", params={"before": cursor}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "before"


def test_a_cursor_names_the_sort_key_to_the_microsecond(db, settings, clock):
    webhook, expected = make_log(settings, clock, same_instant=1)
    delivery = Delivery.get_by_id(expected[0])
    position = Position.parse(Position.of(delivery).cursor, "before")
    assert (position.created_at, position.id) == (delivery.created_at, delivery.id)
