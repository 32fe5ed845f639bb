"""Shared fixtures: a real receiver on 127.0.0.1, a SQLite file per test, a movable clock."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import uvicorn

from app.config import EventTypeSeed, Settings
from app.storage.db import database
from app.services.setup import prepare_database

ADMIN_KEY = "hl_test_admin_key_0123456789abcdef"
ENCRYPTION_KEY = "dGVzdHMtb25seS1lbmNyeXB0aW9uLWtleS0zMmJ5dGU="  # tests only: 32 bytes, base64


def eventually(check, timeout: float = 10, what: str = "the condition"):
    """Poll `check` until it returns something truthy; bounded, for work in other threads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def eventually_async(check, timeout: float = 10, what: str = "the condition"):
    """`eventually` for tests on the event loop: the dispatcher keeps running meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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


class ServerThread:
    """Any ASGI app under a real uvicorn server on 127.0.0.1, in a background thread."""

    def __init__(self, app, lifespan: str = "off"):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, interface="asgi3", log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self._server.started, "server did not start"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


class Receiver(ServerThread):
    """A webhook receiver under uvicorn that answers each path from a scripted plan.

    `plan("/hook", 500, 500, 200)` answers the first two requests with 500 and every later
    one with 200 (the last reply repeats). Unplanned paths answer 200.
    """

    def __init__(self):
        self.requests: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._plans: dict[str, list[Reply]] = {}
        super().__init__(self.app)

    def url(self, path: str = "/hook") -> str:
        return super().url(path)

    def plan(self, path: str, *replies: int | Reply) -> None:
        self._plans[path] = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10) -> list[Received]:
        def got():
            received = self.to(path) if path else self.requests
            return received if len(received) >= count else None

        return eventually(got, timeout, f"{count} requests at the receiver")

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
        encryption_keys=(ENCRYPTION_KEY,),
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


NO_JITTER = lambda: 0.5  # noqa: E731 - random() == 0.5 puts the ±jitter at exactly zero


def make_webhook(settings, clock, url, **fields):
    """A webhook of tenant "default", made through the service like the API does."""
    from app.storage.models import Tenant
    from app.services.webhooks import create_webhook

    return create_webhook(Tenant.get(Tenant.slug == "default"), {"url": url, **fields}, settings, clock()).webhook


def emit(settings, clock, type_name="order.created", data=None):
    from app.storage.models import Tenant
    from app.services.events import emit_event

    tenant = Tenant.get(Tenant.slug == "default")
    return emit_event(tenant, type_name, data if data is not None else {"id": 1}, settings, clock())


class Engine:
    """The sender driven by hand: each `run()` sweeps what is due at the clock's time and
    waits for the sends to finish, so retry timing needs no sleeping. `dispatcher` is the
    sender itself, for tests that sweep, renew or drain step by step."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher

    async def run(self) -> int:
        started = await self.dispatcher.sweep()
        await self.dispatcher.drain(timeout=10)
        return started


@pytest.fixture
async def make_engine(settings, clock):
    """The one place tests build a sender. `await make_engine()` is an engine with the
    test's settings and clock; `make_engine(other_settings, clock=, transport=, kind=)`
    one with others (`kind`: a Dispatcher subclass that changes a step). Each call is
    another process sweeping the same database, with a client of its own; each is shut
    down at the end of the test (request `db` or `api` before this fixture: their
    database outlives it)."""
    from app.delivery.dispatcher import Dispatcher
    from app.delivery.outbound import build_client
    from app.services.webhook_health import announce_disabled

    async with contextlib.AsyncExitStack() as stack:
        async def make(settings=settings, clock=clock, transport=None, kind=Dispatcher) -> Engine:
            client = await stack.enter_async_context(build_client(settings, transport))
            dispatcher = kind(settings, client, clock, random=NO_JITTER, on_disabled=announce_disabled)
            stack.push_async_callback(dispatcher.shutdown, 0)
            return Engine(dispatcher)

        yield make


@pytest.fixture
async def engine(db, make_engine) -> Engine:
    return await make_engine()


ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@contextlib.contextmanager
def serving(settings, clock, run_sender: bool):
    """Hookline itself under uvicorn on loopback, and an httpx client pointed at it."""
    from app.main import create_app

    server = ServerThread(create_app(settings, clock=clock, run_sender=run_sender), lifespan="on").start()
    try:
        with httpx.Client(base_url=server.url(), timeout=30) as client:
            yield client
    finally:
        server.stop()
        database.close()


@pytest.fixture
def api(settings, clock):
    """The API without a sender: deliveries stay queued, so tests can inspect them."""
    with serving(settings, clock, run_sender=False) as client:
        yield client


@pytest.fixture
def tenant_key(api, clock):
    """A key of tenant "acme" (and a webhook-less tenant to go with it)."""
    return _key_for("acme", clock)


@pytest.fixture
def other_tenant_key(api, clock):
    return _key_for("globex", clock)


def _key_for(slug: str, clock) -> dict:
    from app.services.api_keys import create_api_key
    from app.services.tenants import get_or_create_tenant

    new = create_api_key(get_or_create_tenant(slug, clock()), clock())
    return {"Authorization": f"Bearer {new.plaintext}"}


ADMIN_USER, ADMIN_PASSWORD = "ada", "correct horse battery"


class Dashboard:
    """A browser-like client signed in to the dashboard: cookies, CSRF token, htmx headers."""

    def __init__(self, client: httpx.Client):
        self.client = client

    @property
    def csrf(self) -> str:
        from bs4 import BeautifulSoup

        page = BeautifulSoup(self.client.get("/webhooks").text, "html.parser")
        return page.select_one("input[name=csrf_token]")["value"]

    def get(self, url: str, htmx: bool = False, **kwargs) -> httpx.Response:
        return self.client.get(url, headers={"HX-Request": "true"} if htmx else None, **kwargs)

    def post(self, url: str, data: dict | None = None, htmx: bool = False, csrf: bool = True) -> httpx.Response:
        """A form post as the page would send it: the token in the form, or as htmx's header."""
        data = dict(data or {})
        headers = {}
        if csrf:
            if htmx:
                headers["X-CSRF-Token"] = self.csrf
            else:
                data["csrf_token"] = self.csrf
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, data=data, headers=headers)


def sign_in(client: httpx.Client, name: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> Dashboard:
    from bs4 import BeautifulSoup

    page = BeautifulSoup(client.get("/login").text, "html.parser")
    token = page.select_one("input[name=csrf_token]")["value"]
    response = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    return Dashboard(client)


@pytest.fixture
def dashboard(api, clock) -> Dashboard:
    """Signed in as the admin user `ada` (tenant "default"), sender not running."""
    from app.services.users import create_first_admin

    create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
    return sign_in(api)
