"""The `hookline` command as a user runs it: real subprocesses, a real receiver."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from app.services.api_keys import authenticate
from app.services.events import emit_event
from app.services.webhooks import create_webhook
from app.storage.models import PENDING, Delivery, Tenant
from tests.helpers import ADMIN, ADMIN_KEY, eventually, free_port, run_hookline, start_hookline, stop_hookline


def test_create_key_prints_a_working_key_once(env, tmp_path, db):
    result = run_hookline(["create-key", "--tenant", "acme", "--name", "ci"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    plaintext = result.stdout.strip()
    assert plaintext.startswith("hl_") and len(plaintext) >= 40
    assert "shown only this once" in result.stderr and plaintext not in result.stderr
    key = authenticate(plaintext)
    assert key.tenant.slug == "acme" and key.prefix == plaintext[:11] and key.key_hash != plaintext
    assert key.created_by == "command line", "the keys page says where it came from"

    admin = run_hookline(["create-key", "--admin"], env, tmp_path)
    assert authenticate(admin.stdout.strip()).is_admin


def test_changing_the_configured_admin_key_revokes_the_old_one(env, tmp_path, db):
    for key in ("hl_first_admin_key_000000000000", "hl_second_admin_key_00000000000"):
        result = run_hookline(["create-key", "--tenant", "acme"], {**env, "HOOKLINE_ADMIN_KEY": key}, tmp_path)
        assert result.returncode == 0, result.stderr
    assert authenticate("hl_first_admin_key_000000000000") is None
    assert authenticate("hl_second_admin_key_00000000000").is_admin


def test_config_option_goes_before_or_after_the_command(env, tmp_path, db):
    config = tmp_path / "other.toml"
    config.write_text(f'database_url = "{env["HOOKLINE_DATABASE_URL"]}"\n')
    env = {k: v for k, v in env.items() if k not in ("HOOKLINE_CONFIG", "HOOKLINE_DATABASE_URL")}
    for args in (["--config", str(config), "create-key"], ["create-key", "--config", str(config)]):
        result = run_hookline(args, env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert authenticate(result.stdout.strip()) is not None


@pytest.mark.parametrize(
    "extra_env, args, phrase",
    [
        ({"HOOKLINE_PORT": "abc"}, ["serve"], "HOOKLINE_PORT: expected an integer"),
        ({"HOOKLINE_ADMIN_KEY": "short"}, ["serve"], "admin_key (HOOKLINE_ADMIN_KEY): must be at least 24 characters"),
        ({"HOOKLINE_CONFIG": "/nonexistent/hookline.toml"}, ["worker"], "config file /nonexistent/hookline.toml does not exist"),
        ({}, ["create-key", "--tenant", "Bad Name"], "tenant: must be"),
    ],
)
def test_invalid_configuration_stops_start_up_naming_the_key(env, tmp_path, extra_env, args, phrase):
    result = run_hookline(args, {**env, **extra_env}, tmp_path)
    assert result.returncode == 2
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_dev_delivers_an_emitted_event(env, tmp_path, receiver):
    port = free_port()
    process = start_hookline(["serve", "--dev", "--port", str(port)], {**env, "HOOKLINE_ADMIN_KEY": ADMIN_KEY}, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _answers(base, process), 30, "hookline serve to answer")
        assert process.poll() is None
        hook = httpx.post(f"{base}/api/v1/webhooks", json={"url": receiver.url(), "events": ["order.*"]}, headers=ADMIN)
        assert hook.status_code == 201, hook.text
        emitted = httpx.post(f"{base}/api/v1/events", json={"type": "order.created", "data": {"id": 1}}, headers=ADMIN)
        assert emitted.status_code == 202
        (request,) = receiver.wait_for(1)
        assert request.headers["webhook-id"] == emitted.json()["id"]
    finally:
        output = stop_hookline(process)
    assert "DEVELOPMENT MODE" in output
    assert "Application shutdown complete" in output


def test_serve_without_sender_queues_events_for_a_worker(env, tmp_path, db, receiver):
    port = free_port()
    env = {**env, "HOOKLINE_ADMIN_KEY": ADMIN_KEY}
    process = start_hookline(["serve", "--dev", "--no-sender", "--port", str(port)], env, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: _answers(base, process), 30, "hookline serve to answer")
        assert process.poll() is None
        hook = httpx.post(f"{base}/api/v1/webhooks", json={"url": receiver.url()}, headers=ADMIN)
        assert hook.status_code == 201, hook.text
        emitted = httpx.post(f"{base}/api/v1/events", json={"type": "order.created", "data": {}}, headers=ADMIN)
        assert emitted.status_code == 202
    finally:
        stop_hookline(process)
    # serve has exited, so it has sent all it ever will (a sender would have been woken by
    # the emit and drained on SIGTERM): nothing, and the delivery waits for a worker.
    assert receiver.requests == []
    assert [(d.status, d.attempts) for d in Delivery.select()] == [(PENDING, 0)]
    worker = start_hookline(["worker", "--dev"], env, tmp_path)
    try:
        (request,) = receiver.wait_for(1, timeout=30)
        assert request.headers["webhook-id"] == emitted.json()["id"]
    finally:
        stop_hookline(worker)


def _answers(base: str, process: subprocess.Popen) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.ConnectError:
        return process.poll() is not None  # exited: stop waiting, the caller's assert says why


def test_worker_sends_what_is_queued_without_serving_http(env, tmp_path, settings, clock, db, receiver):
    tenant = Tenant.get(Tenant.slug == "default")
    create_webhook(tenant, {"url": receiver.url()}, settings, clock())
    emitted = emit_event(tenant, "order.paid", {"id": 9}, settings, clock())
    process = start_hookline(["worker", "--dev"], env, tmp_path)
    try:
        (request,) = receiver.wait_for(1, timeout=30)
        assert request.headers["webhook-id"] == emitted.event_id
    finally:
        stop_hookline(process)


def test_create_user_then_sign_in(env, tmp_path, db):
    from app.services.users import authenticate_user

    result = run_hookline(["create-user", "bob", "--tenant", "globex"], {**env, "HOOKLINE_PASSWORD": "b" * 12}, tmp_path)
    assert result.returncode == 0, result.stderr
    user = authenticate_user("bob", "b" * 12)
    assert user.tenant.slug == "globex" and not user.is_admin
    short = run_hookline(["create-user", "eve"], {**env, "HOOKLINE_PASSWORD": "short"}, tmp_path)
    assert short.returncode == 2 and "password: must be at least 10 characters" in short.stderr
