"""GET /metrics as Prometheus scrapes it: Hookline under uvicorn, a real receiver, the text
format parsed by prometheus_client's own parser."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.delivery.queue import claim_due
from app.web.metrics import bearer_matches
from tests.helpers import ADMIN, HOOKLINE, eventually, free_port, serving, start_hookline, stop_hookline

TOKEN = "scrape-me-0123456789"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset], float]:
    """Every sample by name and labels, e.g. ("hookline_deliveries_total", {("outcome", "failed")})."""
    response = client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def scrape_until(client: httpx.Client, wanted, what: str) -> dict:
    """Scrape until `wanted(samples)`: the sender records attempts in its own time."""
    def check():
        samples = scrape(client)
        return samples if wanted(samples) else None

    return eventually(check, timeout=30, what=what)


def outcomes(samples) -> dict[str, float]:
    return {dict(labels)["outcome"]: value for (name, labels), value in samples.items() if name == "hookline_deliveries_total"}


def test_metrics_are_off_without_a_token(api):
    assert api.get("/metrics", headers=SCRAPER).status_code == 404


@pytest.fixture
def metered(settings, clock):
    """Hookline with metrics on and its sender running."""
    with serving(settings.replace(metrics_token=TOKEN), clock, run_sender=True) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN},
     {"Authorization": f"Bearer {TOKEN}x"}, ADMIN],
)
def test_metrics_need_the_metrics_token(metered, headers):
    response = metered.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "hookline_" not in response.text


@pytest.mark.parametrize(
    "header, ok",
    [(f"Bearer {TOKEN}", True), (f"bearer {TOKEN}", True), (f"Bearer  {TOKEN} ", True), (None, False), ("", False),
     (f"Bearer {TOKEN[:-1]}", False), ("Bearer é", False)],
)
def test_bearer_matches(header, ok):
    assert bearer_matches(header, TOKEN) is ok


def test_counters_histogram_and_gauges_after_real_deliveries(metered, receiver, clock):
    receiver.plan("/ok", 200)
    receiver.plan("/retry", 503)
    receiver.plan("/bad", 400)
    for path in ("/ok", "/retry", "/bad"):
        assert metered.post("/api/v1/webhooks", json={"url": receiver.url(path)}, headers=ADMIN).status_code == 201
    before = scrape(metered)
    assert outcomes(before) == {"succeeded": 0, "failed": 0, "retry": 0}
    assert before[("hookline_events_accepted_total", frozenset())] == 0

    emit = {"type": "order.created", "data": {"id": 1}, "idempotency_key": "order-1"}
    assert metered.post("/api/v1/events", json=emit, headers=ADMIN).status_code == 202
    replay = metered.post("/api/v1/events", json=emit, headers=ADMIN)
    assert replay.headers["idempotent-replayed"] == "true"
    receiver.wait_for(3)
    samples = scrape_until(metered, lambda s: sum(outcomes(s).values()) == 3, "three recorded attempts")

    assert outcomes(samples) == {"succeeded": 1, "failed": 1, "retry": 1}
    assert samples[("hookline_events_accepted_total", frozenset())] == 1, "an idempotent replay is not a new event"
    assert samples[("hookline_attempt_duration_seconds_count", frozenset())] == 3
    assert samples[("hookline_attempt_duration_seconds_bucket", frozenset({("le", "+Inf")}))] == 3
    assert 0 <= samples[("hookline_attempt_duration_seconds_sum", frozenset())] < 6
    # The retry waits 5 s on the injected clock, which does not move: nothing is due.
    assert samples[("hookline_queue_depth", frozenset())] == 0
    assert samples[("hookline_queue_oldest_due_age_seconds", frozenset())] == 0
    assert samples[("hookline_deliveries_in_flight", frozenset())] == 0
    assert samples[("hookline_webhooks_disabled", frozenset())] == 0


def test_queue_gauges_read_the_database(settings, clock):
    """No sender: the test queues, claims and disables by hand and watches the gauges."""
    with serving(settings.replace(metrics_token=TOKEN), clock, run_sender=False) as client:
        hooks = [client.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:9/{n}"}, headers=ADMIN).json()
                 for n in range(2)]
        for n in range(3):
            clock.advance(10)
            client.post("/api/v1/events", json={"type": "order.paid", "data": {"n": n}}, headers=ADMIN)
        clock.advance(5)
        samples = scrape(client)
        assert samples[("hookline_queue_depth", frozenset())] == 6
        assert samples[("hookline_queue_oldest_due_age_seconds", frozenset())] == 25

        claim_due(clock(), 2, settings.lease_seconds)
        assert client.patch(f"/api/v1/webhooks/{hooks[1]['id']}", json={"enabled": False}, headers=ADMIN).status_code == 200
        samples = scrape(client)
        assert samples[("hookline_deliveries_in_flight", frozenset())] == 2
        assert samples[("hookline_webhooks_disabled", frozenset())] == 1
        # The disabled webhook's deliveries wait rather than being due.
        assert samples[("hookline_queue_depth", frozenset())] == 2

        clock.advance(settings.lease_seconds)
        assert scrape(client)[("hookline_deliveries_in_flight", frozenset())] == 0, "an expired lease is not in flight"


def test_worker_serves_its_own_metrics(env, tmp_path, settings, clock, db, receiver):  # noqa: F811
    port = free_port()
    worker_env = {**env, "HOOKLINE_METRICS_TOKEN": TOKEN}
    process = start_hookline(["worker", "--dev", "--metrics-port", str(port)], worker_env, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            eventually(lambda: _reachable(client), timeout=30, what="the worker's metrics server")
            assert client.get("/metrics").status_code == 401
            from app.services.events import emit_event
            from app.services.webhooks import create_webhook
            from app.storage.models import Tenant

            tenant = Tenant.get(Tenant.slug == "default")
            create_webhook(tenant, {"url": receiver.url()}, settings, clock())
            emit_event(tenant, "order.paid", {"id": 9}, settings, clock())
            receiver.wait_for(1, timeout=30)
            samples = scrape_until(client, lambda s: outcomes(s)["succeeded"] == 1, "the worker's recorded attempt")
            assert samples[("hookline_attempt_duration_seconds_count", frozenset())] == 1
    finally:
        stop_hookline(process)


def _reachable(client: httpx.Client) -> bool:
    try:
        return client.get("/metrics").status_code in (200, 401)
    except httpx.TransportError:
        return False


def test_worker_metrics_port_needs_a_token(env, tmp_path):  # noqa: F811
    result = subprocess.run([HOOKLINE, "worker", "--metrics-port", "9"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--metrics-port needs metrics_token" in result.stderr
