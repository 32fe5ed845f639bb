"""Shared fixtures: a real receiver on 127.0.0.1, a SQLite file per test, a movable clock."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import uvicorn

from app.config import EventTypeSeed, Settings
from app.db import database
from app.services.setup import prepare_database

ADMIN_KEY = "hl_test_admin_key_0123456789abcdef"


class FakeClock:
    """Starts at the real time (signatures stay verifiable) and moves only when told."""

    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    headers: dict = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


class Receiver:
    """A webhook receiver under uvicorn that answers each path from a scripted plan.

    `plan("/hook", 500, 500, 200)` answers the first two requests with 500 and every later
    one with 200 (the last reply repeats). Unplanned paths answer 200.
    """

    def __init__(self):
        self.requests: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._plans: dict[str, list[Reply]] = {}
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(self.app, interface="asgi3", log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def plan(self, path: str, *replies: int | Reply) -> None:
        self._plans[path] = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(path) if path else self.requests
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count} within {timeout}s")

    async def app(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(scope["path"], headers, body))
        plan = self._plans.get(scope["path"], [Reply()])
        reply = plan.pop(0) if len(plan) > 1 else plan[0]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(reply.delay)
        finally:
            self.in_flight -= 1
        raw_headers = [(k.lower().encode(), str(v).encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": reply.body})

    def start(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/hookline.db",
        admin_key=ADMIN_KEY,
        allow_http=True,
        allow_private_networks=("127.0.0.0/8",),
        request_timeout=2,
        lease_seconds=30,
        event_types=(EventTypeSeed("order.created"), EventTypeSeed("order.paid"), EventTypeSeed("user.signed_up")),
    )


@pytest.fixture
def db(settings, clock):
    """The schema, the default tenant, the catalog and the admin key, in a fresh SQLite file."""
    prepare_database(settings, clock)
    yield database
    database.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"
