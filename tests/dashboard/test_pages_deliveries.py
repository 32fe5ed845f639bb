"""Delivery log, delivery detail, resend and stats pages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from bs4 import BeautifulSoup

from app.delivery.queue import claim_due, record_results
from app.delivery.types import AttemptResult
from app.services.deliveries import LogFilter, Position, deliveries_between
from app.services.events import emit_event
from app.services.stats import HourBucket, WindowStats, webhook_stats
from app.services.users import create_user
from app.services.webhooks import create_webhook
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Tenant, Webhook
from app.web.charts import CHART_HEIGHT, axis_top, chart
from app.web.pages import deliveries as pages_deliveries
from tests.helpers import emit_pending, sign_in, soup


def setup_deliveries(settings, clock, statuses=(200, 500, None)) -> Webhook:
    """One webhook and one delivery per entry: an attempt that got that status (None: refused).

    A 500 or a refusal leaves the delivery pending with a retry scheduled."""
    tenant = Tenant.get(Tenant.slug == "default")
    webhook = create_webhook(tenant, {"url": "http://127.0.0.1:9/hook", "name": "Billing"}, settings, clock()).webhook
    for index, status in enumerate(statuses):
        clock.advance(1)
        emit_event(tenant, "order.paid" if index % 2 else "order.created", {"n": index}, settings, clock())
        (claimed,) = claim_due(clock(), 1, settings.lease_seconds)
        result = AttemptResult(
            started_at=clock(), duration_ms=10 * (index + 1), request_headers={"webhook-id": claimed.event_id},
            status_code=status, response_body='{"ok": true}' if status == 200 else "boom",
            error=None if status else "connection refused",
        )
        record_results([(claimed, result)], clock(), settings, lambda: 0.5)
    return webhook


def live_pages(page: BeautifulSoup) -> list:
    return [body for body in page.select("#delivery-table tbody") if "every 2s" in body["hx-trigger"]]


def test_log_lists_deliveries_newest_first(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock)
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/deliveries"))
    rows = page.select("#delivery-list tbody tr")
    assert [r.select_one(".pill").text for r in rows] == [PENDING, PENDING, SUCCEEDED]
    assert [r.select_one("td[data-label=Event] code").text for r in rows] == ["order.created", "order.paid", "order.created"]
    assert [r.select_one("td[data-label=Response]").text.strip() for r in rows] == ["connection refused", "500", "200"]
    assert [r.select_one("td[data-label=Attempts]").text for r in rows] == ["1", "1", "1"]
    assert rows[2].select_one("td[data-label=Duration]").text == "10 ms"
    time = rows[0].select_one("time")
    assert time["title"].endswith("UTC") and time["datetime"].startswith(str(clock().year)) and time.text.endswith("ago")
    assert [th["scope"] for th in page.select("thead th")] == ["col"] * 7
    assert page.select_one(".tabs a[aria-current=page]").text == "Deliveries"
    assert page.select_one("h1").text == "Billing"
    assert all(row["id"] == f"delivery-{row.select_one('a')['href'].rsplit('/', 1)[1]}" for row in rows)
    # Row links open the dialog; they must not inherit the page's outerHTML swap, which
    # would replace #modal-body itself.
    assert {(a["hx-target"], a["hx-swap"]) for a in page.select("tbody a[hx-get]")} == {("#modal-body", "innerHTML")}


def test_filters_and_partial(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock)
    url = f"/webhooks/{webhook.id}/deliveries"
    page = soup(dashboard.get(url))
    form = page.select_one("form.filters")
    assert (form["method"], form["action"], form["hx-get"], form["hx-target"]) == ("get", url, url, "#delivery-list")
    assert {label["for"] for label in form.select("label")} == {s["id"] for s in form.select("select, input")}

    succeeded = soup(dashboard.get(url, params={"status": "succeeded"})).select("#delivery-list tbody tr")
    assert len(succeeded) == 1
    paid = dashboard.get(url, params={"event_type": "order.paid"}, htmx=True)
    assert paid.status_code == 200 and "<html" not in paid.text and "HX-Request" in paid.headers["vary"]
    fragment = soup(paid)
    assert fragment.find().get("id") == "delivery-list" and not fragment.select("form.filters")
    assert [c.text for c in fragment.select("tbody td[data-label=Event] code")] == ["order.paid"]
    nothing = soup(dashboard.get(url, params={"status": "delivering"}, htmx=True))
    assert "match these filters" in nothing.select_one(".empty-state").text

    assert dashboard.get(url, params={"status": "lost"}).status_code == 422


def test_back_button_restores_the_full_page(dashboard, settings, clock):
    """The filter form pushes its URL; htmx's history restore says HX-Request too."""
    webhook = setup_deliveries(settings, clock)
    restore = dashboard.client.get(
        f"/webhooks/{webhook.id}/deliveries?status=pending",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.text and len(soup(restore).select("#delivery-list tbody tr")) == 2
    assert "HX-History-Restore-Request" in restore.headers["vary"], "caches must not serve the fragment for it"


def test_list_polls_only_while_something_is_pending(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock)
    url = f"/webhooks/{webhook.id}/deliveries"
    assert len(live_pages(soup(dashboard.get(url)))) == 1
    Delivery.update(status=DELIVERING).where(Delivery.status == PENDING).execute()
    assert len(live_pages(soup(dashboard.get(url)))) == 1
    Delivery.update(status=FAILED).where(Delivery.status == DELIVERING).execute()
    page = soup(dashboard.get(url))
    assert live_pages(page) == [] and "every" not in page.select_one("#delivery-list").decode()
    # Still refreshed when a resend fires deliveriesChanged, so a resent row starts polling again.
    assert "deliveriesChanged from:body" in page.select_one("#delivery-table tbody")["hx-trigger"]


def test_a_page_refreshes_itself_within_its_bounds(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200,) * (pages_deliveries.PAGE_SIZE + 2))
    url = f"/webhooks/{webhook.id}/deliveries"
    first = soup(dashboard.get(url)).select_one("#delivery-table tbody")
    shown = [tr["id"] for tr in first.select("tr")]
    emit_pending(settings, clock)  # newer than everything shown
    oldest_shown = Delivery.get(Delivery.id == shown[-1].removeprefix("delivery-"))
    Delivery.update(status=PENDING).where(Delivery.id == oldest_shown.id).execute()

    refreshed = dashboard.get(first["hx-get"], htmx=True)
    assert "<html" not in refreshed.text
    body = soup(refreshed).select_one("tbody")
    assert body["id"] == first["id"] and body["hx-get"] == first["hx-get"], "the same page, the same bounds"
    rows = body.select("tr")
    assert [tr["id"] for tr in rows[1:]] == shown, "the new delivery on top, none of the next page"
    assert rows[0].select_one(".pill").text == PENDING and rows[-1].select_one(".pill").text == PENDING
    assert "every 2s" in body["hx-trigger"]


def test_load_more_pages(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200,) * (pages_deliveries.PAGE_SIZE + 2))
    url = f"/webhooks/{webhook.id}/deliveries"
    first = soup(dashboard.get(url, params={"status": "succeeded"}))
    first_ids = [tr["id"] for tr in first.select("tbody tr")]
    assert len(first_ids) == pages_deliveries.PAGE_SIZE
    more = first.select_one("#delivery-pager a")
    assert more.text == "Load more deliveries" and more["href"] == more["hx-get"] and "status=succeeded" in more["href"]
    assert (more["hx-target"], more["hx-swap"]) == ("#delivery-table", "beforeend")

    # Without JavaScript: a page of its own.
    second = soup(dashboard.get(more["href"]))
    second_ids = [tr["id"] for tr in second.select("tbody tr")]
    assert len(second_ids) == 2 and not set(second_ids) & set(first_ids)
    assert second.select_one("#delivery-pager a") is None and "<html" in str(second)

    # With htmx: only the rows to append, and the pager replaced out of band.
    appended = dashboard.get(more["href"], htmx=True)
    assert "<html" not in appended.text
    fragment = soup(appended)
    body = fragment.select_one("tbody")
    assert [tr["id"] for tr in body.select("tr")] == second_ids and body["id"] != first.select_one("tbody")["id"]
    pager = fragment.select_one("#delivery-pager")
    assert pager["hx-swap-oob"] == "true" and pager.select_one("a") is None
    assert fragment.select_one("#delivery-list") is None


def test_deliveries_between_is_bounded_by_cursors(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200, 500, 200, 500))
    rows = list(Delivery.for_webhook(webhook.id))  # newest first
    ids, cursors = [d.id for d in rows], [Position.of(d).cursor for d in rows]
    assert [d.id for d in deliveries_between(webhook, through=cursors[2])] == ids[:3]
    assert [d.id for d in deliveries_between(webhook, through=cursors[3], before=cursors[1])] == ids[2:]
    assert [d.id for d in deliveries_between(webhook, through=cursors[3], filters=LogFilter(SUCCEEDED))] == [ids[1], ids[3]]


def test_detail_shows_every_attempt(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(500,))
    delivery = Delivery.get()
    clock.advance(10)
    (claimed,) = claim_due(clock(), 1, settings.lease_seconds)
    result = AttemptResult(clock(), 7, {"webhook-id": claimed.event_id, "webhook-signature": "v1,abc"}, 200, '{"received": true}')
    record_results([(claimed, result)], clock(), settings, lambda: 0.5)

    page = soup(dashboard.get(f"/deliveries/{delivery.id}"))
    assert "<html" in str(page)
    attempts = page.select("#delivery-detail section.attempt")
    assert [a.select_one("h4 .pill").text for a in attempts] == ["200", "500"]
    assert "7 ms" in attempts[0].select_one("h4").text and "10 ms" in attempts[1].select_one("h4").text
    assert '"received": true' in attempts[0].text, "response bodies are pretty-printed"
    assert "boom" in attempts[1].text
    assert f"webhook-id: {delivery.event_id}" in attempts[0].text and "webhook-signature: v1,abc" in attempts[0].text
    payload = page.select_one("pre.payload").text
    assert '"data": {\n    "n": 0\n  }' in payload and json.loads(payload)["id"] == delivery.event_id
    form = page.select_one("#delivery-detail form")
    assert (form["method"], form["action"], form["hx-post"]) == ("post", f"/deliveries/{delivery.id}/resend", form["action"])
    assert form.select_one("input[name=csrf_token]")["value"] and form.select_one("button[type=submit]").text == "Resend"

    partial = dashboard.get(f"/deliveries/{delivery.id}", htmx=True)
    assert "<html" not in partial.text and soup(partial).find().get("id") == "delivery-detail"
    assert webhook.id in page.select_one("a[data-close-modal]")["href"]


def test_detail_shows_errors_and_long_bodies(dashboard, settings, clock):
    setup_deliveries(settings, clock, statuses=(None,))
    delivery = Delivery.get()
    Attempt.update(response_body="x" * 1000).execute()
    attempt = soup(dashboard.get(f"/deliveries/{delivery.id}")).select_one("section.attempt")
    assert "connection refused" in attempt.select_one(".form-error").text
    assert "no response" in attempt.select_one("h4").text and "x" * 1000 in attempt.text


@pytest.mark.parametrize("status, live, resend_class", [
    (PENDING, True, "btn"), (DELIVERING, True, "btn"), (SUCCEEDED, False, "btn"), (FAILED, False, "btn btn-primary"),
])
def test_detail_refreshes_itself_until_the_delivery_is_final(dashboard, settings, clock, status, live, resend_class):
    """Issue 16, defect 7: the detail follows its delivery like the log does; Resend is the
    call to action only once it failed; where it stands and its attempts come before the body."""
    setup_deliveries(settings, clock, statuses=(500,))
    Delivery.update(status=status).execute()
    delivery = Delivery.get()
    detail = soup(dashboard.get(f"/deliveries/{delivery.id}", htmx=True)).select_one("#delivery-detail")
    assert ("every 2s" in detail.get("hx-trigger", "")) is live
    if live:
        assert (detail["hx-get"], detail["hx-target"], detail["hx-swap"]) == (f"/deliveries/{delivery.id}", "this", "outerHTML")
    assert " ".join(detail.select_one("button[id^=resend-]")["class"]) == resend_class
    assert detail.select_one(f"#attempt-{delivery.id}-1").has_attr("hx-preserve"), "a recorded attempt never changes"
    assert detail.select_one("form.replay-form") is None  # no other webhook to replay to
    headings = [h.text for h in detail.select("h3")]
    assert headings == ["Attempts", "Payload"]
    ids = {code["id"]: code.text for code in detail.select(".facts code")}
    assert ids == {"detail-delivery-id": delivery.id, "detail-event-id": delivery.event_id}
    assert {b["data-copy-target"] for b in detail.select(".facts .btn-copy")} == set(ids)
    assert detail.select_one("#detail-event-id").parent["href"] == f"/events/{delivery.event_id}"


def test_resend_with_a_plain_form(dashboard, settings, clock):
    setup_deliveries(settings, clock, statuses=(200,))
    delivery = Delivery.get()
    refused = dashboard.post(f"/deliveries/{delivery.id}/resend", {}, csrf=False)
    assert refused.status_code == 403 and Delivery.get().status == SUCCEEDED
    refused = dashboard.post(f"/deliveries/{delivery.id}/resend", {}, htmx=True, csrf=False)
    assert refused.status_code == 403 and Delivery.get().status == SUCCEEDED

    plain = dashboard.post(f"/deliveries/{delivery.id}/resend", {})
    assert plain.status_code == 303 and plain.headers["location"] == f"/deliveries/{delivery.id}"
    assert Delivery.get().status == PENDING and Delivery.get().next_attempt_at == clock()
    page = soup(dashboard.get(plain.headers["location"]))
    assert "Resend queued" in page.select_one(".banner-success").text
    assert page.select_one("#delivery-detail #modal-title .pill").text == PENDING
    row = soup(dashboard.get(f"/webhooks/{Delivery.get().webhook_id}/deliveries")).select_one(f"#delivery-{delivery.id}")
    assert row.select_one(".pill").text == PENDING and "retry now" in row.text

    Delivery.update(status=DELIVERING).execute()
    busy = dashboard.post(f"/deliveries/{delivery.id}/resend", {})
    assert busy.status_code == 303 and Delivery.get().status == DELIVERING
    assert "being sent right now" in soup(dashboard.get(busy.headers["location"])).select_one(".banner-error").text


def test_resend_with_htmx(dashboard, settings, clock):
    setup_deliveries(settings, clock, statuses=(500,))
    Delivery.update(status=FAILED).execute()
    delivery = Delivery.get()
    sent = dashboard.post(f"/deliveries/{delivery.id}/resend", {}, htmx=True)
    assert sent.status_code == 200 and Delivery.get().status == PENDING
    trigger = json.loads(sent.headers["hx-trigger"])
    assert trigger["toast"]["message"].startswith("Resend queued") and trigger["toast"]["level"] == "success"
    assert trigger["deliveriesChanged"] is True
    detail = soup(sent)
    assert "<html" not in sent.text and detail.find()["id"] == "delivery-detail"
    assert detail.select_one("h2 .pill").text == PENDING

    Delivery.update(status=DELIVERING).execute()
    busy = dashboard.post(f"/deliveries/{delivery.id}/resend", {}, htmx=True)
    assert busy.status_code == 204 and Delivery.get().status == DELIVERING
    trigger = json.loads(busy.headers["hx-trigger"])
    assert "being sent right now" in trigger["toast"]["message"] and trigger["toast"]["level"] == "error"


def test_other_tenants_logs_are_404(dashboard, api, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200,))
    delivery = Delivery.get()
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=api.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        for url in (f"/webhooks/{webhook.id}/deliveries", f"/webhooks/{webhook.id}/stats", f"/deliveries/{delivery.id}"):
            assert bob.get(url).status_code == 404, url
            assert bob.get(url, htmx=True).status_code == 404, url
        assert bob.post(f"/deliveries/{delivery.id}/resend", {}).status_code == 404
        assert bob.post(f"/deliveries/{delivery.id}/resend", {}, htmx=True).status_code == 404
    assert Delivery.get().status == SUCCEEDED


def test_stats_numbers(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200, 200, 500, None))
    Delivery.update(status=FAILED).where(Delivery.last_error.is_null(False)).execute()  # the refused one gave up
    numbers = webhook_stats(webhook.id, clock())
    day = numbers.day
    assert (day.succeeded, day.failed, day.pending) == (2, 1, 1)
    assert day.success_rate == pytest.approx(2 / 3)
    assert (day.p50_ms, day.p95_ms) == (20, 40), "nearest rank over the attempts 10, 20, 30, 40 ms"
    assert numbers.week == WindowStats(168, 2, 1, 1, 0, 4, 20, 40, 40)
    assert [h.start for h in numbers.hours] == sorted(h.start for h in numbers.hours) and len(numbers.hours) == 24
    assert numbers.hours[-1].start <= clock() < numbers.hours[-1].start + timedelta(hours=1)
    assert sum(h.succeeded for h in numbers.hours) == 2
    assert sum(h.failed for h in numbers.hours) == 1 and sum(h.pending for h in numbers.hours) == 1

    clock.advance(timedelta(days=2).total_seconds())
    later = webhook_stats(webhook.id, clock())
    assert (later.day.succeeded, later.day.p50_ms, later.day.success_rate) == (0, None, None)
    assert (later.week.succeeded, later.week.failed, later.week.p95_ms) == (2, 1, 40)
    assert all((h.succeeded, h.failed, h.pending) == (0, 0, 0) for h in later.hours)
    clock.advance(timedelta(days=6).total_seconds())
    assert webhook_stats(webhook.id, clock()).week.succeeded == 0


def test_stats_page(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=(200, 200, 500, None))
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/stats"))
    assert page.select_one(".tabs a[aria-current=page]").text == "Stats"
    day, week = page.select("section.stats-window")
    assert "24 hours" in day.h2.text and "7 days" in week.h2.text
    values = {s["class"][1]: s.select_one(".stat-value").text for s in day.select(".stat")}
    assert values == {"stat-succeeded": "2", "stat-failed": "0", "stat-pending": "2", "stat-rate": "100.0%",
                      "stat-p50": "20 ms", "stat-p95": "40 ms"}
    svg = page.select_one("svg.chart")
    assert svg["role"] == "img" and svg["aria-label"]
    hours = svg.select("g.hour")
    assert len(hours) == 24 and all(g.title for g in hours)
    assert len(svg.select("rect.bar-succeeded")) == 1 and len(svg.select("rect.bar-pending")) == 1
    assert "2 succeeded, 0 failed, 2 pending" in hours[-1].title.text
    assert not page.select("[style]") and not page.select("script:not([src])"), "the CSP allows neither"


def test_empty_stats_page(dashboard, settings, clock):
    webhook = setup_deliveries(settings, clock, statuses=())
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/stats"))
    assert [s.text for s in page.select(".stat-rate .stat-value, .stat-p50 .stat-value")] == ["—", "—"] * 2
    assert len(page.select("svg.chart g.hour")) == 24 and not page.select("rect.bar-succeeded")


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        # (succeeded, failed, pending) per hour -> (kind, y, height) of each segment, bottom up;
        # the axis tops at 4, 4 and 2 (the busiest hour's 4, 3 and 2, rounded up: see axis_top)
        ([(3, 1, 0), (0, 0, 0)], [[("succeeded", 30, 90), ("failed", 0, 30)], []]),
        ([(1, 1, 1)], [[("succeeded", 90, 30), ("failed", 60, 30), ("pending", 30, 30)]]),
        ([(0, 2, 0), (1, 0, 0)], [[("failed", 0, 120)], [("succeeded", 60, 60)]]),
        ([(1, 1, 1), (0, 0, 4)], [[("succeeded", 90, 30), ("failed", 60, 30), ("pending", 30, 30)], [("pending", 0, 120)]]),
    ],
)
def test_chart_geometry(hours, expected):
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    bars = chart([HourBucket(start + timedelta(hours=i), *counts) for i, counts in enumerate(hours)]).bars
    assert [[(s.kind, s.y, s.height) for s in bar.segments] for bar in bars] == expected
    assert all(sum(s.height for s in bar.segments) <= CHART_HEIGHT for bar in bars)
    assert [bar.x for bar in bars] == [i * 20 for i in range(len(hours))] and bars[0].label == "00"


def test_chart_stacks_never_overflow():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    bars = chart([HourBucket(start, 1, 1, 1), HourBucket(start, 2, 2, 3)]).bars  # eighths of an axis to 8
    assert [sum(s.height for s in bar.segments) for bar in bars] == [round(3 / 8 * CHART_HEIGHT), round(7 / 8 * CHART_HEIGHT)]
    assert all(s.y >= 0 for bar in bars for s in bar.segments)


@pytest.mark.parametrize(
    ("peak", "top"),
    [(0, 1), (1, 1), (2, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 20), (25, 40), (45, 60), (81, 100), (1234, 2000)],
)
def test_the_y_axis_tops_at_a_round_value(peak, top):
    assert axis_top(peak) == top


def test_y_axis_ticks_are_whole_numbers_on_their_grid_lines():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ticks = chart([HourBucket(start, 7, 2, 0)]).ticks
    assert [(t.value, t.y, t.percent) for t in ticks] == [(0, CHART_HEIGHT, 0), (5, CHART_HEIGHT // 2, 50), (10, 0, 100)]
    empty = chart([HourBucket(start, 0, 0, 0)]).ticks
    assert [(t.value, t.percent) for t in empty] == [(0, 0), (1, 100)], "no half deliveries on the axis"


@pytest.mark.parametrize(
    "now, cron, note",
    [
        (datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), "17 3 * * *",
         "Succeeded deliveries are kept 30 days, failed ones 90 days; next purge 03:17 UTC."),
        (datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), "0 2 1 * *",
         "Succeeded deliveries are kept 30 days, failed ones 90 days; next purge 2026-12-01 02:00 UTC."),
    ],
)
def test_retention_note(settings, now, cron, note):
    assert pages_deliveries.retention_note(settings.replace(retention_cron=cron), now) == note
