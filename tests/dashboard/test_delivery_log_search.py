"""The delivery log finds a delivery: ids shown and copyable, search by event or delivery
id, a time range, an empty result that offers to clear the filters, and "Recover failed
deliveries" only when something failed (issue 16, defect 8)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.services.deliveries import LogFilter
from app.storage.models import FAILED, SUCCEEDED, Delivery
from tests.helpers import emit, make_webhook, soup


@pytest.fixture
def log(dashboard, settings, clock):
    """A webhook with three deliveries an hour apart, oldest first; returns (url, deliveries)."""
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook", name="Billing")
    for hour in range(3):
        emit(settings, clock, data={"n": hour})
        clock.advance(timedelta(hours=1).total_seconds())
    Delivery.update(status=SUCCEEDED).execute()
    return f"/webhooks/{webhook.id}/deliveries", list(Delivery.select().order_by(Delivery.created_at))


def shown(page) -> list[str]:
    return [tr["id"].removeprefix("delivery-") for tr in page.select("#delivery-table tbody tr")]


def test_every_row_shows_its_event_and_delivery_id_with_a_copy_button(dashboard, log):
    url, rows = log
    page = soup(dashboard.get(url))
    for delivery in rows:
        cell = page.select_one(f"#delivery-{delivery.id} td[data-label=Ids]")
        event_code = cell.select_one(f"#event-id-{delivery.id}")
        delivery_code = cell.select_one(f"#delivery-id-{delivery.id}")
        assert (event_code.text, delivery_code.text) == (delivery.event_id, delivery.id)
        buttons = cell.select("button[data-copy-target]")
        assert [b["data-copy-target"] for b in buttons] == [event_code["id"], delivery_code["id"]]
        assert [b["type"] for b in buttons] == ["button", "button"], "a copy must not submit anything"
        assert [b["aria-label"] for b in buttons] == ["Copy event id", "Copy delivery id"]


@pytest.mark.postgres
def test_search_finds_a_delivery_by_its_event_id_or_its_own_id(dashboard, log):
    url, (oldest, middle, newest) = log
    assert shown(soup(dashboard.get(url, params={"search": middle.event_id}))) == [middle.id]
    assert shown(soup(dashboard.get(url, params={"search": f"  {newest.id} "}))) == [newest.id], "pasted with spaces"
    page = soup(dashboard.get(url, params={"search": oldest.event_id}))
    assert page.select_one("#filter-search")["value"] == oldest.event_id, "the form shows what it searched"
    fragment = dashboard.get(url, params={"search": middle.id}, htmx=True)
    assert "<html" not in fragment.text and shown(soup(fragment)) == [middle.id]

    too_long = dashboard.get(url, params={"search": "x" * 65})
    assert too_long.status_code == 422 and "search" in too_long.text


@pytest.mark.postgres
def test_time_range_narrows_the_log_and_its_links_keep_it(dashboard, log, clock):
    url, (oldest, middle, newest) = log
    since, until = middle.created_at.strftime("%Y-%m-%dT%H:%M"), newest.created_at.strftime("%Y-%m-%dT%H:%M")
    page = soup(dashboard.get(url, params={"since": since, "until": until}))
    assert shown(page) == [middle.id], "from included, before excluded"
    assert shown(soup(dashboard.get(url, params={"since": since}))) == [newest.id, middle.id]
    assert shown(soup(dashboard.get(url, params={"until": since}))) == [oldest.id]
    assert (page.select_one("#filter-since")["value"], page.select_one("#filter-until")["value"]) == (since, until)
    refresh = page.select_one("#delivery-table tbody")["hx-get"]
    assert f"since={since.replace(':', '%3A')}" in refresh and "until=" in refresh

    backwards = dashboard.get(url, params={"since": until, "until": since})
    assert backwards.status_code == 422 and backwards.text.startswith("until:")
    assert dashboard.get(url, params={"since": "yesterday"}).text.startswith("since:")


def test_an_empty_filtered_log_says_so_and_offers_to_clear_the_filters(dashboard, log):
    url, _ = log
    for params in ({"search": "evt_00000000000000000000000000"}, {"status": FAILED}, {"since": "2999-01-01T00:00"}):
        empty = soup(dashboard.get(url, params=params, htmx=True)).select_one("#delivery-list .empty-state")
        assert "No deliveries match these filters" in empty.h2.text, params
        clear = empty.find("a", string="Clear filters")
        assert clear["href"] == url, "back to the whole log, with the form reset"


def test_an_empty_log_without_filters_offers_no_clearing(dashboard, settings, clock):
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook", name="Quiet")
    empty = soup(dashboard.get(f"/webhooks/{webhook.id}/deliveries")).select_one(".empty-state")
    assert empty.h2.text == "No deliveries" and empty.find("a", string="Clear filters") is None


def test_recover_is_offered_only_when_a_delivery_failed(dashboard, log):
    url, (oldest, _, _) = log
    assert soup(dashboard.get(url)).select_one("#recover") is None
    Delivery.update(status=FAILED).where(Delivery.id == oldest.id).execute()
    recover = soup(dashboard.get(url)).select_one("#recover")
    assert recover.summary.text == "Recover failed deliveries" and recover.select_one("form[action$=recover]")


@pytest.mark.parametrize(
    ("fields", "is_set"),
    [
        ({}, False),
        ({"status": " ", "search": ""}, False),
        ({"search": "evt_1"}, True),
        ({"since": "2026-12-02T09:30"}, True),
    ],
)
def test_log_filter_from_text(fields, is_set):
    assert LogFilter.from_text(**fields).is_set is is_set


def test_log_filter_reads_times_as_utc_unless_they_say_otherwise():
    assert LogFilter.from_text(since="2026-12-02T09:30").since.isoformat() == "2026-12-02T09:30:00+00:00"
    assert LogFilter.from_text(until="2026-12-02T09:30+01:00").until.isoformat() == "2026-12-02T08:30:00+00:00"
