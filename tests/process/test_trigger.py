"""`hookline trigger` as a developer runs it: a subprocess against a real `hookline serve`
and a real receiver. The server's database is made by `serve` itself from config.toml,
so the catalog's example payloads are the ones a fresh install has."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from app.trigger import attempt_lines
from tests.helpers import ADMIN, ADMIN_KEY, free_port, run_hookline, serve_hookline, stop_hookline


@pytest.fixture
def server(env, tmp_path):
    env = {**env, "HOOKLINE_ADMIN_KEY": ADMIN_KEY}
    port = free_port()
    process = serve_hookline(env, port, tmp_path)
    yield f"http://127.0.0.1:{port}"
    stop_hookline(process)


def trigger(server: str, cwd, *args: str, key: str | None = ADMIN_KEY):
    """`hookline trigger` as a developer runs it, with the key exported as HOOKLINE_API_KEY
    and nothing else: no config file, no database, no HOOKLINE_* settings."""
    env = {name: os.environ[name] for name in ("PATH", "PYTHONPATH") if name in os.environ}
    if key is not None:
        env["HOOKLINE_API_KEY"] = key
    result = run_hookline(["trigger", *args, "--server", server], env, cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def make_webhook(server: str, url: str, **fields) -> dict:
    response = httpx.post(f"{server}/api/v1/webhooks", json={"url": url, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def test_trigger_sends_the_catalog_example_and_waits_for_the_outcome(server, tmp_path, receiver):
    webhook = make_webhook(server, receiver.url(), events=["order.*"])
    result = trigger(server, tmp_path, "order.created", "--wait")
    assert result.returncode == 0, result.stderr
    event_line, outcome = result.stdout.splitlines()
    event_id = event_line.split()[0]
    assert event_line == f"{event_id} order.created: 1 delivery" and event_id.startswith("evt_")
    assert outcome.startswith("  dlv_") and f"-> {webhook['id']}: attempt 1: 200 in " in outcome
    assert outcome.endswith(" ms (succeeded)")
    assert "the example of order.created" in result.stderr
    (request,) = receiver.requests
    payload = Verifier(webhook["secret"]).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == event_id
    assert payload["data"] == {"id": "ord_1001", "total": 4990, "currency": "EUR"}  # config.toml's example


def test_trigger_with_data_and_tenant_without_waiting(server, tmp_path, receiver):
    make_webhook(server, receiver.url(), tenant="acme")
    make_webhook(server, receiver.url("/other"), tenant="globex")
    result = trigger(server, tmp_path, "order.paid", "--data", '{"id": "ord_9", "amount": 1.10}',
                     "--tenant", "acme")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(" order.paid: 1 delivery\n")
    (request,) = receiver.wait_for(1)
    assert request.path == "/hook" and json.loads(request.body)["data"] == {"id": "ord_9", "amount": 1.10}
    assert b'"amount":1.10' in request.body  # the digits as typed

    nobody = trigger(server, tmp_path, "user.signed_up", "--wait")
    assert nobody.returncode == 0 and nobody.stdout.endswith(" user.signed_up: 0 deliveries\n")


def test_wait_follows_retries_to_a_failure_and_exits_1(server, tmp_path, receiver):
    receiver.plan("/hook", 500)
    make_webhook(server, receiver.url(), retry_schedule=[0, 0.2])  # two attempts, then failed for good
    result = trigger(server, tmp_path, "order.created", "--data", "{}", "--wait")
    assert result.returncode == 1
    first, second = result.stdout.splitlines()[1:]
    assert ": attempt 1: 500 in " in first
    assert " ms (next attempt at 20" in first or first.endswith(" ms (retried)")  # retried between two polls
    assert ": attempt 2: 500 in " in second and second.endswith(" ms (failed)")
    assert len(receiver.requests) == 2


@pytest.mark.parametrize("args, key, phrase", [
    (["order.created", "--data", "{nope"], ADMIN_KEY, "--data is not JSON: Expecting property name"),
    (["order.created", "--data", "NaN"], ADMIN_KEY, "--data is not JSON: NaN is not a JSON number"),
    (["order.created"], None, "needs an API key: --api-key or $HOOKLINE_API_KEY"),
])
def test_bad_arguments_stop_before_any_request(tmp_path, args, key, phrase):
    result = trigger(f"http://127.0.0.1:{free_port()}", tmp_path, *args, key=key)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"hookline trigger: {phrase}" + result.stderr.split(phrase, 1)[1]


REFUSALS = [
    (["order.shipped"], ADMIN_KEY, "hookline trigger: no event type 'order.shipped'"),
    (["order.shipped", "--data", "{}"], ADMIN_KEY, "hookline trigger: type: unknown event type 'order.shipped'"),
    (["order.created"], "hl_wrong_key_0000000000000000000", "hookline trigger: invalid or revoked API key"),
    (["order.created", "--data", "{}", "--tenant", "Bad Slug"], ADMIN_KEY, "hookline trigger: tenant: "),
]


def test_what_the_server_refuses_is_one_line_in_its_words(server, tmp_path):
    for args, key, start in REFUSALS:
        result = trigger(server, tmp_path, *args, key=key)
        assert (result.returncode, result.stdout) == (1, ""), args
        assert result.stderr.startswith(start) and result.stderr.count("\n") == 1, result.stderr


def test_an_unreachable_server_is_named(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    result = trigger(url, tmp_path, "order.created", "--data", "{}")
    assert result.returncode == 1
    assert result.stderr.startswith(f"hookline trigger: cannot reach {url}: ")


def attempt(number: int, status: int | None, error: str | None = None) -> dict:
    return {"number": number, "response_status": status, "error": error, "duration_ms": 3 if status else None}


@pytest.mark.parametrize("status, log, shown, lines", [
    ("succeeded", [attempt(1, 200)], 0, ["attempt 1: 200 in 3 ms (succeeded)"]),
    ("pending", [attempt(1, 500)], 0, ["attempt 1: 500 in 3 ms (next attempt at 2026-12-02T10:00:00Z)"]),
    ("failed", [attempt(1, 500), attempt(2, None, "timed out after 10 s")], 1,
     ["attempt 2: timed out after 10 s (failed)"]),
    ("succeeded", [attempt(1, 500), attempt(2, 502), attempt(3, 200)], 1,
     ["attempt 2: 502 in 3 ms (retried)", "attempt 3: 200 in 3 ms (succeeded)"]),
    ("cancelled", [attempt(1, 500)], 1, []),
])
def test_each_attempt_is_one_line_once(status, log, shown, lines):
    delivery = {"id": "dlv_1", "webhook_id": "wh_1", "status": status, "attempt_log": log,
                "next_attempt_at": "2026-12-02T10:00:00Z" if status == "pending" else None}
    assert attempt_lines(delivery, shown) == [f"  dlv_1 -> wh_1: {line}" for line in lines]
