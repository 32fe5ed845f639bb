"""What tests share besides fixtures: a real receiver and server threads on 127.0.0.1, a
movable clock, bounded polling, and short ways to make webhooks, events, signed-in
dashboards and `hookline` subprocesses. Fixtures live in the conftest.py files; a test
module imports helpers from here and never from another test module.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import uvicorn
from bs4 import BeautifulSoup

from app.storage.db import database

if TYPE_CHECKING:
    from playwright.sync_api import Page

ADMIN_KEY = "hl_test_admin_key_0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
ENCRYPTION_KEY = "dGVzdHMtb25seS1lbmNyeXB0aW9uLWtleS0zMmJ5dGU="  # tests only: 32 bytes, base64
ADMIN_USER, ADMIN_PASSWORD = "ada", "correct horse battery"
NO_JITTER = lambda: 0.5  # noqa: E731 - random() == 0.5 puts the ±jitter at exactly zero


def signed_headers(secret, msg_id, event_type, timestamp, body, older=(), contract=None, signing_keys=()) -> dict:
    """The signature and default headers of one attempt with `body`, as the sender makes
    them (app/delivery/signed_request.py), without the framing ones."""
    from app.delivery.signed_request import DEFAULT_CONTRACT, build_request
    from app.delivery.signing import SigningKeys
    from app.rules.placeholders import Message

    message = Message(msg_id, event_type, datetime(2026, 1, 1, tzinfo=timezone.utc), "{}", "acme", "wh_1", "", "dlv_1")
    request = build_request(contract or DEFAULT_CONTRACT, SigningKeys((secret, *older), signing_keys), message,
                            timestamp, 1, body=body)
    headers = dict(request.headers)
    del headers["Content-Type"], headers["User-Agent"]
    return headers


# Waiting for work in other threads and processes, bounded.

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


# Servers on loopback.

@functools.cache
def tls_context() -> ssl.SSLContext:
    """One for every test client: httpx builds one per client unless given one, reading
    the whole CA bundle each time (~20 ms, ~100 ms on a busy machine), and the suite makes
    a client for most of its tests (`serving`), all over plain http on loopback."""
    return httpx.create_ssl_context()


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


class _PromptServer(uvicorn.Server):
    """uvicorn's server, stopping without idle waits: uvicorn looks at `should_exit` on its
    0.1 s ticks (50 ms on average until a stop is seen), then gives open connections 0.1 s
    to close, which is nothing to wait for when none is open. The suite stops a server in
    most of its tests: ~150 ms each, over a thousand times."""

    async def main_loop(self) -> None:
        self.stopping = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):  # the ticks also refresh the Date header
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.1)

    async def shutdown(self, sockets=None) -> None:
        if self.server_state.connections or self.server_state.tasks:
            return await super().shutdown(sockets)
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        if not self.force_exit:
            await self.lifespan.shutdown()

    def stop_soon(self) -> None:
        self.should_exit = True
        loop = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: it has exited
                loop.call_soon_threadsafe(self.stopping.set)


class ServerThread:
    """Any ASGI app under a real uvicorn server on 127.0.0.1, in a background thread."""

    def __init__(self, app, lifespan: str = "off"):
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, interface="asgi3", log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=1)
        self._server = _PromptServer(config)
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
        self._server.stop_soon()
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


@contextlib.contextmanager
def serving(settings, clock, run_sender: bool):
    """Hookline itself under uvicorn on loopback, and an httpx client pointed at it."""
    from app.main import create_app

    server = ServerThread(create_app(settings, clock=clock, run_sender=run_sender), lifespan="on").start()
    try:
        with httpx.Client(base_url=server.url(), timeout=30, verify=tls_context()) as client:
            yield client
    finally:
        server.stop()
        database.close()


# Data, through the services as the API would make it.

def make_webhook(settings, clock, url, **fields):
    """A webhook of tenant "default", made through the service like the API does."""
    from app.services.webhooks import create_webhook as create
    from app.storage.models import Tenant

    return create(Tenant.get(Tenant.slug == "default"), {"url": url, **fields}, settings, clock()).webhook


def emit(settings, clock, type_name="order.created", data=None):
    from app.services.events import emit_event
    from app.storage.models import Tenant

    tenant = Tenant.get(Tenant.slug == "default")
    return emit_event(tenant, type_name, data if data is not None else {"id": 1}, settings, clock())


def emit_pending(settings, clock, count: int = 1) -> None:
    """Deliveries that stay pending (for tests where no sender runs), one second apart."""
    for _ in range(count):
        clock.advance(1)
        emit(settings, clock, data={})


def key_for(slug: str, clock) -> dict:
    """The Authorization header of a new API key of tenant `slug` (created if new)."""
    from app.services.api_keys import create_api_key
    from app.services.tenants import get_or_create_tenant

    new = create_api_key(get_or_create_tenant(slug, clock()), clock())
    return {"Authorization": f"Bearer {new.plaintext}"}


def only_delivery():
    from app.storage.models import Delivery

    (delivery,) = Delivery.select()
    return delivery


def only_webhook():
    from app.storage.models import Webhook

    (webhook,) = Webhook.select()
    return webhook


# --- issue 16, Overview: deliveries answered the way the sender records them ---

def answer_round(tenant, settings, clock, answers: dict, type_name: str = "order.created") -> None:
    """One event to `tenant`'s webhooks a second later, and every due delivery answered as
    `answers` says for its webhook id: (status, duration in ms), status None for a refused
    connection. Recorded by `record_results`, so streaks and switch-offs are the engine's."""
    from app.delivery.queue import claim_due, record_results
    from app.delivery.types import AttemptResult
    from app.services.events import emit_event

    clock.advance(1)
    emit_event(tenant, type_name, {"n": 1}, settings, clock())
    results = []
    for claimed in claim_due(clock(), 100, settings.lease_seconds):
        status, duration = answers[claimed.webhook_id]
        results.append((claimed, AttemptResult(
            started_at=clock(), duration_ms=duration, request_headers={}, status_code=status,
            response_body="ok" if status == 200 else "boom", error=None if status else "connection refused")))
    record_results(results, clock(), settings, NO_JITTER)

# --- end of Overview ---


def old_log(settings, clock, count: int, age_days: float = 40) -> None:
    """`count` succeeded deliveries with an attempt each, written directly: building a big
    old log through the sender would take minutes. Its webhook hears only user.* events."""
    from peewee import chunked

    from app.rules.ids import new_id
    from app.storage.db import write_transaction
    from app.storage.models import SUCCEEDED, Attempt, Delivery, Event, Tenant

    when = clock() - timedelta(days=age_days)
    tenant = Tenant.get(Tenant.slug == "default")
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/old", events=["user.signed_up"])
    events = [new_id("evt") for _ in range(count)]
    deliveries = [new_id("dlv") for _ in range(count)]
    with write_transaction():
        for rows in chunked([{"id": e, "tenant": tenant.id, "type": "user.signed_up", "data": "{}", "created_at": when}
                             for e in events], 500):
            Event.insert_many(rows).execute()
        for rows in chunked([{"id": d, "event": e, "webhook": webhook.id, "status": SUCCEEDED, "attempts": 1,
                              "created_at": when, "updated_at": when} for d, e in zip(deliveries, events)], 500):
            Delivery.insert_many(rows).execute()
        for rows in chunked([{"delivery": d, "number": 1, "started_at": when, "duration_ms": 5, "request_headers": {},
                              "response_status": 200} for d in deliveries], 500):
            Attempt.insert_many(rows).execute()


def described() -> dict[str, tuple]:
    """Per table of the open database: its columns, indexes and foreign keys, each sorted by
    name, so that two databases built different ways (migrated, or created from today's
    models) can be compared. Column order is left out: a column added by a migration comes
    last, one that step 1 created from the models of its day sat where the model had it,
    and nothing reads columns by position."""
    return {
        table: (
            sorted((c.name, c.data_type, c.null, c.primary_key, c.default) for c in database.get_columns(table)),
            sorted((i.name, tuple(i.columns), i.unique) for i in database.get_indexes(table)),
            sorted((f.column, f.dest_table, f.dest_column) for f in database.get_foreign_keys(table)),
        )
        for table in database.get_tables()
    }


def created_from_the_models() -> dict[str, tuple]:
    """The schema today's models describe, created in the open (empty) database."""
    import peewee

    from app.storage.migrations import SchemaVersion
    from app.storage.models import BaseModel

    database.create_tables(peewee.sort_models([*BaseModel.__subclasses__(), SchemaVersion]))
    return described()


# The HTTP API.

def create_webhook(api: httpx.Client, url="http://127.0.0.1:9/hook", key=ADMIN, **fields) -> dict:
    response = api.post("/api/v1/webhooks", json={"url": url, **fields}, headers=key)
    assert response.status_code == 201, response.text
    return response.json()


def emit_over_api(api: httpx.Client, headers=ADMIN, type_name="order.created", **extra) -> str:
    response = api.post("/api/v1/events", json={"type": type_name, "data": {"n": 1}, **extra}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["id"]


# The dashboard, as a browser-like client.

def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


class Dashboard:
    """A browser-like client signed in to the dashboard: cookies, CSRF token, htmx headers."""

    def __init__(self, client: httpx.Client):
        self.client = client

    @property
    def csrf(self) -> str:
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
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    token = page.select_one("input[name=csrf_token]")["value"]
    response = client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    return Dashboard(client)


def create_in_dashboard(dashboard: Dashboard, htmx: bool = False, **fields) -> httpx.Response:
    """The create-webhook form posted with a valid name, URL and event, or with `fields`."""
    data = {"name": "Billing", "url": "http://127.0.0.1:9/hook", "events": "order.created", **fields}
    return dashboard.post("/webhooks", data, htmx=htmx)


# `hookline` as a subprocess.

HOOKLINE = str(Path(sys.executable).parent / "hookline")
CONFIG_TOML = Path(__file__).parents[1] / "config.toml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MailServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, in a thread of its own, keeping every
    message it accepted. `reply` is what it answers to DATA ("250 OK", or a refusal such as
    "550 5.7.1 Relaying denied"). With `certificate` (the paths of a PEM certificate and
    key) it requires STARTTLS before MAIL and takes AUTH, recording each login; with
    `implicit_tls` too it speaks TLS from the first byte instead (smtps://)."""

    def __init__(self, reply: str = "250 OK", certificate: tuple[Path, Path] | None = None,
                 implicit_tls: bool = False):
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.reply = reply
        self.messages: list = []  # aiosmtpd envelopes: mail_from, rcpt_tos, content (bytes)
        self.logins: list[tuple[str, str]] = []
        self.data_started = threading.Event()  # a DATA command has arrived
        self.release = threading.Event()  # set beforehand: DATA is answered at once
        self.release.set()
        self.port = free_port()
        options: dict = {}
        if certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*certificate)

            def authenticate(server, session, envelope, mechanism, auth_data):
                self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
                return AuthResult(success=True)

            options = {"authenticator": authenticate}
            if implicit_tls:  # AUTH is safe at once: nothing crossed in clear
                options |= {"ssl_context": context, "auth_require_tls": False}
            else:
                options |= {"tls_context": context, "require_starttls": True}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    async def handle_DATA(self, server, session, envelope):
        self.data_started.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        if self.reply.startswith("250"):
            self.messages.append(envelope)
        return self.reply

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._controller.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no system trusts, and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return certificate_path, key_path


def hookline_env(settings) -> dict:
    """A clean environment: the project's config.toml, the test's database. PYTHONPATH
    passes through, so the subprocess runs the same `app` as the test (a worktree's, say,
    rather than the one the venv's `hookline` was installed from)."""
    return {
        "PATH": os.environ["PATH"],
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        "HOOKLINE_CONFIG": str(CONFIG_TOML),
        "HOOKLINE_DATABASE_URL": settings.database_url,
        "HOOKLINE_SWEEP_INTERVAL": "0.2",
        "HOOKLINE_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    }


def run_hookline(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([HOOKLINE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def start_hookline(args: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    """Output goes to a file: a pipe nobody reads would block a chatty server."""
    log = cwd / f"hookline-{len(list(cwd.glob('hookline-*.log')))}.log"
    with log.open("w") as output:
        process = subprocess.Popen([HOOKLINE, *args], env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    process.log = log
    return process


def stop_hookline(process: subprocess.Popen) -> str:
    """SIGTERM, as a service manager would; uvicorn re-raises it after a clean shutdown."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    output = process.log.read_text()
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output, output
    return output


def serve_hookline(env: dict, port: int, cwd: Path) -> subprocess.Popen:
    """`hookline serve --dev` on `port`, once it answers /healthz."""
    process = start_hookline(["serve", "--dev", "--port", str(port)], env, cwd)

    def healthy():
        try:
            return client.get("/healthz").status_code == 200
        except httpx.ConnectError:
            assert process.poll() is None, process.log.read_text()
            return False

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", verify=tls_context()) as client:
        eventually(healthy, 30, "hookline serve to answer")
    return process


# The dashboard in real Chromium (tests/e2e).

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def screenshot(page: Page, name: str) -> None:
    """Saves docs/screenshots/<name>.png; only with HOOKLINE_SCREENSHOTS set, so a test run does not rewrite tracked files."""
    if os.environ.get("HOOKLINE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, page.viewport_size["height"] - 1)  # no hover look on the last clicked button
        page.screenshot(path=SCREENSHOTS / f"{name}.png", animations="disabled", caret="hide")


DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 5_000  # per action or navigation; expectations keep Playwright's 5 s default


def set_up_admin(page: Page) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", name="Welcome to Hookline")).to_be_visible()
    page.fill("#name", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#password_confirm", ADMIN_PASSWORD)
    page.get_by_role("button", name="Create administrator").click()
    expect(page).to_have_url(re.compile(r"/webhooks$"))
    expect(page.locator(".empty-state")).to_contain_text("No webhooks yet")


def open_create_modal(page: Page) -> None:
    from playwright.sync_api import expect

    page.locator(".page-header").get_by_role("link", name="Create webhook").click()
    expect(page.locator("#modal")).to_be_visible()
    expect(page.locator("#modal-title")).to_have_text("Create webhook")
    # htmx focuses the [autofocus] field when the swap settles; typing before that would
    # race the focus move (a human is not that fast).
    expect(page.locator("#modal-body")).not_to_have_class(re.compile("htmx-settling"))
    expect(page.locator("#wh-name")).to_be_focused()  # keyboard users can start typing at once


def fill_webhook_form(page: Page, name: str, url: str, event: str = "order.created") -> None:
    page.fill("#wh-name", name)
    page.fill("#wh-url", url)
    page.check("input[name=event_choice][value=selected]")
    page.check(f"input[name=events][value='{event}']")


def create_webhook_in_browser(page: Page, name: str, url: str, event: str = "order.created") -> None:
    from playwright.sync_api import expect

    open_create_modal(page)
    fill_webhook_form(page, name, url, event)
    page.locator("#modal").get_by_role("button", name="Create webhook").click()
    expect(page.locator("#modal-title")).to_have_text("Webhook created")


def dismiss_secret(page: Page) -> None:
    """Closes "Webhook created" or "New signing secret" as a user who kept the secret does:
    Copy, then Done. Before Copy, closing asks "Have you copied the secret?" (app.js)."""
    from playwright.sync_api import expect

    dialog = page.locator("#modal")
    copy = dialog.locator("[data-copy-target=signing-secret]")
    copy.click()
    expect(copy).to_have_text("Copied")
    dialog.get_by_role("link", name="Done").click()
    expect(dialog).to_be_hidden()


def webhook_row(page: Page, name: str):
    """The list's row of the webhook named `name` (its name is the link that opens it)."""
    return page.locator("#webhook-table tbody tr").filter(has=page.get_by_role("link", name=name, exact=True))


def row_menu(page: Page, name: str):
    """The row's menu of secondary actions (Edit, Deliveries, Stats, Delete), opened."""
    from playwright.sync_api import expect

    menu = webhook_row(page, name).locator("details.menu")
    menu.locator("summary").click()
    expect(menu.locator(".menu-popup")).to_be_visible()
    return menu
