"""Receivers that misbehave, for real, on 127.0.0.1: every case is a logged attempt with a
reason a person can act on, retried when retrying can help, and bounded in time and memory.
No DNS query leaves the machine: name resolution is injected where a test needs it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import socket
import ssl
import threading
import time
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.delivery.resolver import GuardedResolver
from app.delivery.transport import DeliveryTransport
from app.storage.models import FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Webhook
from tests.helpers import Reply, emit, make_webhook, only_delivery

pytestmark = pytest.mark.anyio

TEN_MB = 10 * 1024 * 1024


class RawServer:
    """A TCP server on 127.0.0.1 whose `handle(conn)` misbehaves on purpose, one thread per
    connection; handlers are bounded so every thread ends."""

    def __init__(self, handle, tls: ssl.SSLContext | None = None):
        self.handle = handle
        self.tls = tls
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(5)
            self.handle(conn)
        except (OSError, ssl.SSLError):
            pass  # the client gave up or refused us: that is the point of these servers
        finally:
            conn.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


def drip(data: bytes, every: float = 0.1):
    def handle(conn):
        read_request(conn)
        for byte in data:
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return handle


def reset(conn):
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close


@pytest.fixture
def quick(settings):
    return settings.replace(request_timeout=0.5)


async def deliver_once(make_engine, settings, clock, url, transport=None) -> Delivery:
    make_webhook(settings, clock, url)
    emit(settings, clock)
    engine = await make_engine(settings, transport=transport)
    await engine.run()
    return only_delivery()


async def test_receiver_that_hangs_times_out_and_is_retried(db, quick, clock, receiver, make_engine):
    receiver.plan("/hook", Reply(200, delay=5))
    delivery = await deliver_once(make_engine, quick, clock, receiver.url())
    assert (delivery.status, delivery.last_error) == (PENDING, "timed out after 0.5s")


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 3, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: y\r\n" * 30],
    ids=["status line", "headers"],
)
async def test_answer_dripping_byte_by_byte_hits_the_total_deadline(db, quick, clock, answer, make_engine):
    with RawServer(drip(answer)) as server:
        delivery = await deliver_once(make_engine, quick, clock, server.url())
    assert (delivery.status, delivery.last_error) == (PENDING, "timed out after 0.5s")
    assert Attempt.get().duration_ms < 5000, "the deadline covers the whole answer, not each read"


async def test_body_dripping_after_a_200_is_cut_at_the_deadline(db, quick, clock, make_engine):
    """The deadline covers reading the body too. The receiver did answer 200, so the event
    counts as delivered; the attempt log shows both the status and the timeout."""
    def handle(conn):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            time.sleep(0.1)

    with RawServer(handle) as server:
        delivery = await deliver_once(make_engine, quick, clock, server.url())
    attempt = Attempt.get()
    assert (delivery.status, attempt.response_status, attempt.error) == (SUCCEEDED, 200, "timed out after 0.5s")
    assert attempt.duration_ms < 5000


async def test_connection_reset_is_a_retried_attempt(db, settings, clock, make_engine):
    with RawServer(reset) as server:
        delivery = await deliver_once(make_engine, settings, clock, server.url())
    assert delivery.status == PENDING and delivery.attempts == 1
    assert "reset" in delivery.last_error.lower() or "disconnected" in delivery.last_error.lower(), delivery.last_error


@pytest.mark.parametrize(
    "reply",
    [Reply(200, body=b"x" * TEN_MB), Reply(200, headers={"Content-Encoding": "gzip"}, body=gzip.compress(b"\0" * TEN_MB))],
    ids=["10 MB", "gzip bomb"],
)
async def test_huge_answers_are_read_only_as_far_as_the_log_keeps(db, settings, clock, receiver, reply, make_engine):
    receiver.plan("/hook", reply)
    delivery = await deliver_once(make_engine, settings, clock, receiver.url())
    assert delivery.status == SUCCEEDED
    body = Attempt.get().response_body
    assert body.endswith("… [truncated]") and len(body) <= 1000


def self_signed_context() -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = f"{folder}/cert.pem", f"{folder}/key.pem"
        with open(cert_path, "wb") as out:
            out.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
    return context


def answer_ok(conn):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def test_tls_error_is_named_and_retried(db, settings, clock, make_engine):
    with RawServer(answer_ok, tls=self_signed_context()) as server:
        delivery = await deliver_once(make_engine, settings, clock, server.url("https"))
        assert server.connections == 1
    assert delivery.status == PENDING
    assert delivery.last_error.startswith("TLS error:") and "certificate" in delivery.last_error, delivery.last_error


async def test_retry_after_on_429_is_honoured(db, settings, clock, receiver, make_engine):
    receiver.plan("/hook", Reply(429, headers={"Retry-After": "120"}))
    delivery = await deliver_once(make_engine, settings, clock, receiver.url())
    assert (delivery.status, delivery.next_attempt_at) == (PENDING, clock() + timedelta(seconds=120))


async def test_410_fails_and_disables(db, settings, clock, receiver, make_engine):
    receiver.plan("/hook", 410)
    delivery = await deliver_once(make_engine, settings, clock, receiver.url())
    assert delivery.status == FAILED and Webhook.get().enabled is False


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "/internal"])
async def test_redirects_to_internal_addresses_are_not_followed(db, settings, clock, receiver, location, make_engine):
    receiver.plan("/hook", Reply(307, headers={"Location": location}))
    delivery = await deliver_once(make_engine, settings, clock, receiver.url())
    assert (delivery.status, delivery.last_status_code) == (FAILED, 307)
    assert [r.path for r in receiver.requests] == ["/hook"]


class FailingResolver(AbstractResolver):
    """DNS that knows no names, without asking any server."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        # What aiohttp's ThreadedResolver raises when getaddrinfo finds nothing.
        raise OSError(None, "Name or service not known") from socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_dns_failure_is_a_retried_attempt(db, settings, clock, make_engine):
    def session() -> aiohttp.ClientSession:
        resolver = GuardedResolver(settings.allow_private_networks, FailingResolver())
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=resolver), trust_env=False)

    delivery = await deliver_once(make_engine, settings, clock, "https://hooks.example.invalid/hook", DeliveryTransport(session))
    assert delivery.status == PENDING
    assert delivery.last_error == "could not resolve host: Name or service not known"
