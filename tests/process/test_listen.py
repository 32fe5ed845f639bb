"""`hookline listen` as a developer runs it: a real `hookline serve` on a SQLite file, the
real CLI as a subprocess, and a local receiver that verifies what it gets with the
Standard Webhooks library."""

from __future__ import annotations

import json
import re
import signal
from types import SimpleNamespace

import httpx
import pytest
import standardwebhooks

from app.config import Settings
from app.rules.clock import system_clock
from app.services.setup import prepare_database
from app.storage.db import database
from app.storage.models import CANCELLED, PENDING, SUCCEEDED, Delivery, Webhook
from tests.helpers import ADMIN_KEY, ENCRYPTION_KEY, eventually, free_port, hookline_env, key_for, serve_hookline
from tests.helpers import start_hookline, stop_hookline

# The first attempt at once, a retry 0.2 s after a failure, the next an hour later: a test
# sees a retry without waiting, or a delivery that stays pending while it looks.
RETRY_SCHEDULE = "0,0.2,3600"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One `hookline serve` for the module (a start costs seconds): every test ends its
    sessions, and keys and receivers are each test's own."""
    folder = tmp_path_factory.mktemp("listen")
    settings = Settings(database_url=f"sqlite:///{folder}/hookline.db", admin_key=ADMIN_KEY,
                        encryption_keys=(ENCRYPTION_KEY,))
    prepare_database(settings, system_clock)  # the test reads the same file
    env = {**hookline_env(settings), "HOOKLINE_ADMIN_KEY": ADMIN_KEY, "HOOKLINE_RETRY_SCHEDULE": RETRY_SCHEDULE}
    port = free_port()
    process = serve_hookline(env, port, folder)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", env=env, folder=folder)
    output = stop_hookline(process)
    database.close()
    assert "ERROR" not in output, output


@pytest.fixture
def server(shared) -> str:
    return shared.url


@pytest.fixture
def acme(shared, clock) -> dict:
    return key_for("acme", clock)


class Session:
    """A `hookline listen` subprocess, once it printed its signing secret."""

    def __init__(self, server: str, key: dict, forward_to: str, env: dict, cwd, *args: str, reconnect_attempts=0):
        api_key = key["Authorization"].removeprefix("Bearer ")
        self.process = start_hookline(
            ["listen", "--forward-to", forward_to, "--server", server, "--reconnect-attempts", str(reconnect_attempts),
             *args],
            {**env, "HOOKLINE_API_KEY": api_key}, cwd)

    def started(self) -> Session:
        found = eventually(lambda: re.search(r"\(session (wh_\w+)\)\nSigning secret: (whsec_\S+)\n", self.output()),
                           30, "the session to start")
        self.webhook, self.secret = Webhook.get_by_id(found.group(1)), found.group(2)
        return self

    def output(self) -> str:
        assert self.process.poll() is None, self.process.log.read_text()
        return self.process.log.read_text()

    def interrupt(self) -> str:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=20) == 0
        return self.process.log.read_text()


@pytest.fixture
def listen(shared):
    sessions = []

    def start(key: dict, forward_to: str, *args: str) -> Session:
        sessions.append(Session(shared.url, key, forward_to, shared.env, shared.folder, *args))
        return sessions[-1].started()

    yield start
    for session in sessions:
        if session.process.poll() is None:
            session.interrupt()
        assert "Traceback" not in session.process.log.read_text()


def emit(server: str, key: dict, type_name: str = "order.created", **data) -> str:
    emitted = httpx.post(f"{server}/api/v1/events", json={"type": type_name, "data": data}, headers=key)
    assert emitted.status_code == 202, emitted.text
    return emitted.json()["id"]


def verified(session: Session, request) -> dict:
    """The body, once the receiver's own verifier accepted the request."""
    return standardwebhooks.Webhook(session.secret).verify(request.body, request.headers)


def test_events_are_forwarded_signed_and_the_answer_is_the_attempt(server, acme, listen, receiver):
    receiver.plan("/hook", 202)
    session = listen(acme, receiver.url("/hook"), "--print-json")
    event_id = emit(server, acme, total=42)
    (request,) = receiver.wait_for(1, "/hook")
    body = verified(session, request)
    assert body["id"] == event_id and body["type"] == "order.created" and body["data"] == {"total": 42}
    assert request.headers["webhook-id"] == event_id and request.headers["user-agent"].startswith("Hookline/")
    delivery = eventually(lambda: Delivery.get_or_none((Delivery.event == event_id) & (Delivery.status == SUCCEEDED)),
                          10, "the attempt recorded")
    assert (delivery.webhook_id, delivery.attempts, delivery.last_status_code) == (session.webhook.id, 1, 202)
    line = eventually(lambda: re.search(rf"order\.created\s+{event_id}  -> 202  \d+ ms", session.output()), 10,
                      "the delivery's line")
    assert line
    assert json.loads(re.search(r"request:  (.*)", session.output()).group(1)) == body


def test_a_local_500_is_retried_on_schedule(server, acme, listen, receiver):
    receiver.plan("/hook", 500, 200)
    session = listen(acme, receiver.url("/hook"))
    event_id = emit(server, acme)
    first, second = receiver.wait_for(2, "/hook")
    assert verified(session, first) == verified(session, second)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
    delivery = eventually(lambda: Delivery.get_or_none((Delivery.event == event_id) & (Delivery.status == SUCCEEDED)),
                          10, "the retry recorded")
    assert delivery.attempts == 2
    assert [a.response_status for a in delivery.attempt_rows.order_by("number")] == [500, 200]
    output = session.output()
    assert f"{event_id}  -> 500" in output and re.search(rf"{event_id}  -> 200  \d+ ms  \(attempt 2\)", output)


def test_ctrl_c_removes_the_session_and_cancels_its_pending_deliveries(server, acme, listen, receiver):
    receiver.plan("/hook", 500)
    session = listen(acme, receiver.url("/hook"))
    assert [w["id"] for w in httpx.get(f"{server}/api/v1/webhooks", headers=acme).json()["data"]] == [session.webhook.id]
    event_id = emit(server, acme)
    receiver.wait_for(2, "/hook")  # the first attempt and its retry; the next is an hour away
    eventually(lambda: Delivery.get(Delivery.event == event_id).status == PENDING
               and Delivery.get(Delivery.event == event_id).attempts == 2, 10, "the retry recorded")
    output = session.interrupt()
    assert "Stopped; the session is closed" in output and "Traceback" not in output
    delivery = eventually(lambda: Delivery.get_or_none((Delivery.event == event_id) & (Delivery.status == CANCELLED)),
                          10, "the delivery cancelled")
    assert delivery.last_error == "cancelled: the listen session ended"
    assert Webhook.get_by_id(session.webhook.id).deleted_at is not None
    assert httpx.get(f"{server}/api/v1/webhooks", headers=acme).json()["data"] == []


def test_two_sessions_of_a_tenant_both_receive(server, acme, listen, receiver):
    first, second = listen(acme, receiver.url("/first")), listen(acme, receiver.url("/second"))
    assert first.secret != second.secret
    event_id = emit(server, acme)
    (to_first,) = receiver.wait_for(1, "/first")
    (to_second,) = receiver.wait_for(1, "/second")
    assert verified(first, to_first)["id"] == verified(second, to_second)["id"] == event_id
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verified(first, to_second)


def test_another_tenants_events_never_reach_a_session(server, acme, clock, listen, receiver):
    globex = key_for("globex", clock)
    session = listen(acme, receiver.url("/hook"), "--events", "order.*")
    other = emit(server, globex)
    skipped = emit(server, acme, "user.signed_up")
    own = emit(server, acme)
    (request,) = receiver.wait_for(1, "/hook")
    assert verified(session, request)["id"] == own
    # Fan-out happens in the emit's transaction: no delivery was ever queued for the session.
    assert Delivery.select().where(Delivery.event.in_([other, skipped])
                                   & (Delivery.webhook == session.webhook.id)).count() == 0


def test_a_refused_key_is_one_line_and_no_traceback(shared):
    process = start_hookline(["listen", "--forward-to", "http://127.0.0.1:9/hook", "--server", shared.url],
                             {**shared.env, "HOOKLINE_API_KEY": "hl_not_a_key"}, shared.folder)
    assert process.wait(timeout=30) == 2
    assert process.log.read_text() == "hookline listen: invalid or revoked API key\n"


def test_a_server_that_is_gone_ends_the_cli_with_a_clear_message(env, tmp_path):
    server = f"http://127.0.0.1:{free_port()}"
    process = start_hookline(["listen", "--forward-to", "http://127.0.0.1:9/hook", "--server", server,
                              "--reconnect-attempts", "1"], {**env, "HOOKLINE_API_KEY": "hl_whatever"}, tmp_path)
    assert process.wait(timeout=30) == 1
    output = process.log.read_text()
    assert f"Connection to {server} lost (connection refused); reconnecting in 1s" in output
    assert output.endswith(f"hookline listen: lost {server} (connection refused); gave up after 1 reconnection attempts\n")


def test_a_server_restart_ends_the_session_and_the_cli_reconnects_with_its_secret(shared, acme, receiver, tmp_path):
    """Another `serve` on the module's database, stopped and started again on its port."""
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    first_server = serve_hookline(shared.env, port, tmp_path)
    session = Session(server, acme, receiver.url("/hook"), shared.env, tmp_path, reconnect_attempts=5)
    try:
        session.started()
        # uvicorn waits for open requests before it stops: the stream is told to end first.
        stop_hookline(first_server)
        assert Webhook.get_by_id(session.webhook.id).deleted_at is not None
        eventually(lambda: "lost (the server is shutting down); reconnecting in 1s" in session.output(), 10,
                   "the CLI to notice")
        second_server = serve_hookline(shared.env, port, tmp_path)
        try:
            eventually(lambda: "Reconnected; same signing secret." in session.output(), 30, "the CLI to reconnect")
            event_id = emit(server, acme)
            (request,) = receiver.wait_for(1, "/hook")
            assert verified(session, request)["id"] == event_id
        finally:
            assert "Stopped; the session is closed" in session.interrupt()
            stop_hookline(second_server)
    finally:
        if session.process.poll() is None:
            session.process.kill()
            session.process.wait()
