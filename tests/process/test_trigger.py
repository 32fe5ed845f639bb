"""`hookline trigger` as a developer runs it: a subprocess against a real `hookline serve`
and a real receiver. The server's database is made by `serve` itself from config.toml,
so the catalog's example payloads are the ones a fresh install has."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

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


def test_wait_reports_a_failed_delivery_and_exits_1(server, tmp_path, receiver):
    receiver.plan("/hook", 500)
    make_webhook(server, receiver.url(), retry_schedule=[0])  # one attempt, then failed for good
    result = trigger(server, tmp_path, "order.created", "--data", "{}", "--wait")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1].endswith(" ms (failed)") and ": attempt 1: 500 in " in result.stdout


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
