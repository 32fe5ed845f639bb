"""GET /api/v1/webhooks/{id}/stats and GET /api/v1/stats: the Stats tab's numbers by API.

Outcomes come from the real sender against a real receiver; exact latencies from attempts
recorded with known durations through the sender's own recorder.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.delivery.queue import claim_due, record_results
from app.delivery.types import AttemptResult
from app.services.events import emit_event
from app.storage.models import Tenant
from tests.helpers import ADMIN, create_webhook, emit_over_api, key_for, soup

pytestmark = pytest.mark.postgres  # counting per hour in SQL differs by backend: run again by --db=postgres


def stats(api, path: str, key=ADMIN, **params) -> dict:
    response = api.get(path, params=params, headers=key)
    assert response.status_code == 200, response.text
    return response.json()


def hour_starts(body: dict) -> list[datetime]:
    return [datetime.fromisoformat(h["start"].replace("Z", "+00:00")) for h in body["hours"]]


@pytest.mark.anyio
async def test_outcomes_of_real_deliveries_by_period_and_hour(api, make_engine, clock, receiver, settings):
    receiver.plan("/flaky", 500)
    webhook = create_webhook(api, url=receiver.url("/flaky"), retry_schedule=[0])  # one attempt, then failed
    fine = create_webhook(api, url=receiver.url("/fine"))
    for _ in range(3):
        emit_over_api(api)
        clock.advance(1)
    engine = await make_engine()
    await engine.run()
    emit_over_api(api)  # not sent yet: pending

    body = stats(api, f"/api/v1/webhooks/{webhook['id']}/stats")
    assert body["period"] == "24h"
    assert body["counts"] == {"succeeded": 0, "failed": 3, "pending": 1, "cancelled": 0}
    assert (body["success_rate"], body["attempts"]) == (0, 3)
    good = stats(api, f"/api/v1/webhooks/{fine['id']}/stats")
    assert good["counts"] == {"succeeded": 3, "failed": 0, "pending": 1, "cancelled": 0} and good["success_rate"] == 1

    durations = sorted(a["duration_ms"] for d in api.get(f"/api/v1/webhooks/{fine['id']}/deliveries", headers=ADMIN)
                       .json()["data"] if d["attempts"]
                       for a in api.get(f"/api/v1/deliveries/{d['id']}", headers=ADMIN).json()["attempt_log"])
    assert good["latency_ms"] == {"p50": durations[1], "p95": durations[2], "p99": durations[2]}, "nearest rank of 3"

    hours = hour_starts(body)
    assert len(hours) == 24 and all(h.minute == h.second == h.microsecond == 0 for h in hours)
    assert hours == [hours[-1] - timedelta(hours=23 - i) for i in range(24)] and hours[-1] <= clock() < hours[-1] + timedelta(hours=1)
    assert sum(h["failed"] for h in body["hours"]) == 3 and sum(h["pending"] for h in body["hours"]) == 1
    assert body["hours"][-1]["start"].endswith(":00:00Z"), "UTC, ISO 8601"

    clock.advance(timedelta(days=2).total_seconds())
    assert stats(api, f"/api/v1/webhooks/{webhook['id']}/stats")["counts"]["failed"] == 0
    week = stats(api, f"/api/v1/webhooks/{webhook['id']}/stats", period="7d")
    assert week["counts"]["failed"] == 3 and len(week["hours"]) == 7 * 24
    month = stats(api, f"/api/v1/webhooks/{webhook['id']}/stats", period="30d")
    assert month["counts"] == week["counts"] and len(month["hours"]) == 30 * 24


def record(settings, clock, tenant: Tenant, durations: list[int], status: int = 200) -> None:
    """One event per duration, each sent once with that duration and that status."""
    for duration in durations:
        emit_event(tenant, "order.created", {}, settings, clock())
        for claimed in claim_due(clock(), 100, settings.lease_seconds):
            result = AttemptResult(started_at=clock(), duration_ms=duration, request_headers={},
                                   status_code=status, response_body="", error=None)
            record_results([(claimed, result)], clock(), settings, lambda: 0.5)


def test_latency_percentiles_by_nearest_rank(api, clock, settings):
    webhook = create_webhook(api)
    record(settings, clock, Tenant.get(Tenant.slug == "default"), list(range(200, 0, -1)))
    body = stats(api, f"/api/v1/webhooks/{webhook['id']}/stats")
    assert body["latency_ms"] == {"p50": 100, "p95": 190, "p99": 198}
    assert (body["attempts"], body["counts"]["succeeded"], body["success_rate"]) == (200, 200, 1)


def test_the_dashboard_shows_what_the_api_answers(api, dashboard, clock, settings):
    webhook = create_webhook(api)
    tenant = Tenant.get(Tenant.slug == "default")
    record(settings, clock, tenant, [10, 20, 30])
    record(settings, clock, tenant, [40], status=410)  # gone: failed at once
    body = stats(api, f"/api/v1/webhooks/{webhook['id']}/stats")
    page = soup(dashboard.get(f"/webhooks/{webhook['id']}/stats"))
    day = page.select("section.stats-window")[0]
    shown = {s["class"][1]: s.select_one(".stat-value").text for s in day.select(".stat")}
    assert shown == {
        "stat-succeeded": str(body["counts"]["succeeded"]), "stat-failed": str(body["counts"]["failed"]),
        "stat-pending": str(body["counts"]["pending"]), "stat-rate": f"{body['success_rate'] * 100:.1f}%",
        "stat-p50": f"{body['latency_ms']['p50']} ms", "stat-p95": f"{body['latency_ms']['p95']} ms",
    }
    assert shown["stat-succeeded"] == "3" and shown["stat-rate"] == "75.0%"
    bars = page.select("svg.chart g.hour title")
    assert f"{body['counts']['succeeded']} succeeded, {body['counts']['failed']} failed" in bars[-1].text


def test_tenant_stats_count_every_webhook_of_that_tenant_only(api, clock, settings):
    acme = key_for("acme", clock)
    create_webhook(api, key=acme)
    create_webhook(api, key=acme)
    create_webhook(api, key=key_for("globex", clock))
    record(settings, clock, Tenant.get(Tenant.slug == "acme"), [5])  # to both of acme's webhooks
    record(settings, clock, Tenant.get(Tenant.slug == "globex"), [7, 9], status=500)

    mine = stats(api, "/api/v1/stats", acme)
    assert mine["counts"]["succeeded"] == 2 and mine["attempts"] == 2 and mine["latency_ms"]["p99"] == 5
    theirs = stats(api, "/api/v1/stats", ADMIN, tenant="globex", period="7d")
    assert (theirs["period"], theirs["attempts"], theirs["latency_ms"]["p50"]) == ("7d", 2, 7)
    assert stats(api, "/api/v1/stats", ADMIN)["attempts"] == 0, "an admin key reads `default` unless told"
    assert api.get("/api/v1/stats", params={"tenant": "globex"}, headers=acme).status_code == 403
    assert api.get("/api/v1/stats", params={"tenant": "nobody"}, headers=ADMIN).status_code == 404


@pytest.mark.parametrize("period", ["1h", "24H", "", "7days"])
def test_a_bad_period_is_named(api, period):
    webhook = create_webhook(api)
    for path in (f"/api/v1/webhooks/{webhook['id']}/stats", "/api/v1/stats"):
        response = api.get(path, params={"period": period}, headers=ADMIN)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == {"message": "period: must be one of 24h, 7d, 30d", "field": "period"}


def test_another_tenants_webhook_has_no_stats_for_you(api, clock):
    webhook = create_webhook(api, key=key_for("globex", clock))
    assert api.get(f"/api/v1/webhooks/{webhook['id']}/stats", headers=key_for("acme", clock)).status_code == 404
    assert api.get(f"/api/v1/webhooks/{webhook['id']}/stats", headers=ADMIN).status_code == 200


def test_cancelled_deliveries_count_apart(api, clock, settings):
    """A webhook deleted with deliveries waiting: its tenant's stats show them cancelled (the
    per-hour count once failed on a status it did not know)."""
    webhook = create_webhook(api)
    emit_over_api(api)
    assert api.delete(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).status_code == 204
    body = stats(api, "/api/v1/stats")
    assert body["counts"] == {"succeeded": 0, "failed": 0, "pending": 0, "cancelled": 1}
    assert body["hours"][-1]["cancelled"] == 1 and body["success_rate"] is None
    assert datetime.fromisoformat(body["hours"][-1]["start"].replace("Z", "+00:00")).tzinfo == timezone.utc
