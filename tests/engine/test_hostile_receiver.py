"""A hostile receiver: a raw TCP server on 127.0.0.1 that answers each webhook from a
corpus of broken answers (not HTTP, bad status lines, oversized headers, bad chunking,
seeded random bytes, answers cut short at every byte or dripped past the deadline,
connections closed or reset at each stage), and custom headers that rows saved before
the header rules may hold. Every delivery must end in one recorded
attempt with a reason a person can read, none may stay `delivering`, no receiver answer
may reach the dispatcher's catch-all, and a healthy webhook beside them keeps receiving.

They all run at once through the real Dispatcher; the slow ones have a timeout of 1.5 s,
and the suite takes about as long.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from dataclasses import dataclass

import anyio.to_thread
import pytest

from app.delivery.policy import Outcome, classify
from app.services.deliveries import resend_delivery
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Webhook
from tests.helpers import emit, make_webhook

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SEED = 20261201
RANDOM_ANSWERS = 120
MUTATED_ANSWERS = 120
CREDENTIAL = "Bearer receiver-credential-0123456789"
SLOW = 1.5  # the timeout of the webhooks whose receivers are too slow
TIMED_OUT = f"timed out after {SLOW:g}s"
CLOSED = "connection closed before a response"
RESET = "connection failed: Connection reset by peer"
SHORT_BODY = "malformed body: shorter than its Content-Length"
BAD_CHUNKS = "malformed body: invalid chunked encoding"
CHUNKED_SHORT = "malformed body: cut short before its last chunk"
BAD_VALUE = ("invalid header: 'X-Note' must have a value of visible ASCII characters, spaces and tabs only "
             "(character {} is not one); correct the webhook's headers")
BAD_NAME = ("invalid header: 'X-Note\\n' is not a valid header name: 1 to 64 letters, digits and !#$%&'*+-.^_`|~, "
            "without spaces; correct the webhook's headers")
# Every reason a receiver's answer may be given, as the attempt log starts it.
REASONS = ("not an HTTP response", "invalid status line", "response headers too large", "invalid response",
           "malformed body", CLOSED, "connection failed: ", TIMED_OUT)


@dataclass(frozen=True)
class Answer:
    """What the receiver does with a request: send `parts`, pausing `pause` seconds before
    each after the first, then `end` the connection: "close" (FIN), "reset" (RST), or
    "hang" until the client gives up. `read` False answers without reading the request."""

    parts: tuple[bytes, ...] = ()
    end: str = "close"
    pause: float = 0.0
    read: bool = True


def says(*parts: bytes, **options) -> Answer:
    return Answer(parts, **options)


class HostileReceiver:
    """Answers `/a/<n>` with answers[n]; every connection ends within a few seconds."""

    def __init__(self, answers: list[Answer]):
        self.answers = answers
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/a/{index}"

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        if self._handlers:  # each ends within its own time limit
            await asyncio.wait(self._handlers)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._handlers.add(asyncio.current_task())
        try:
            async with asyncio.timeout(5):
                await self._play(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the client gave up first: that is what some of these answers are for
        finally:
            writer.close()
            self._handlers.discard(asyncio.current_task())

    async def _play(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readuntil(b"\r\n")
        answer = self.answers[int(request_line.split(b" ")[1].rsplit(b"/", 1)[1])]
        if answer.read:  # all of it, or closing would send RST instead of FIN
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
        for n, part in enumerate(answer.parts):
            if n and answer.pause:
                await asyncio.sleep(answer.pause)
            writer.write(part)
            await writer.drain()
        if answer.end == "hang":
            await reader.read()  # until the client closes
        elif answer.end == "reset":  # SO_LINGER 0: closing sends RST rather than FIN
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


NEW_STATUS = {Outcome.SUCCEEDED: SUCCEEDED, Outcome.RETRY: PENDING, Outcome.FAILED: FAILED, Outcome.GONE: FAILED}


@dataclass(frozen=True)
class Case:
    """One answer and what its attempt may log: one of `errors` (None: no error, a status
    only), and one of `statuses`. `errors` None itself means any reason a receiver may
    be given (REASONS), or none with a status: for the random answers."""

    name: str
    answer: Answer
    errors: tuple[str | None, ...] | None
    statuses: tuple[int | None, ...] = (None,)
    timeout: float | None = None  # the webhook's; None: the generous global one
    saved_headers: dict | None = None  # custom headers as a row saved before the header rules holds them


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
BUSY_HEAD = b"HTTP/1.1 503 Busy\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
BUSY = BUSY_HEAD + b"hello, world"
CHUNKED_HEAD = b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED = CHUNKED_HEAD + b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"

NAMED = [
    Case("not HTTP", says(b"HELLO THERE\r\n\r\n"), ("not an HTTP response",)),
    Case("HTML without a status line", says(b"<html>hi</html>\r\n\r\n"), ("not an HTTP response",)),
    Case("binary", says(bytes(range(256)) + b"\r\n\r\n"), ("not an HTTP response",)),
    Case("status 2000", says(b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"), ("invalid status line",)),
    Case("status not a number", says(b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n"), ("invalid status line",)),
    Case("header line over 8,190 bytes", says(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 8200 + b"\r\n\r\n"),
         ("response headers too large",)),
    Case("too many headers", says(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"), ("response headers too large",)),
    Case("header line without a colon", says(b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n"), None),
    Case("NUL in a header", says(b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"), ("invalid response header",)),
    Case("negative Content-Length", says(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n"), None),
    Case("Retry-After: \u00b2 on a 503", says("HTTP/1.1 503 Busy\r\nRetry-After: \u00b2\r\nContent-Length: 0\r\n\r\n".encode()),
         (None,), (503,)),
    Case("malformed chunk size", says(CHUNKED_HEAD + b"zz\r\nabc\r\n0\r\n\r\n"), (BAD_CHUNKS,), (None, 503)),
    # aiohttp 3.14's C parser does not pass a bad chunk that arrives after the headers on
    # to the body's reader, which then waits: the deadline ends it.
    Case("malformed chunk size after a pause", says(CHUNKED_HEAD, b"zz\r\nabc\r\n0\r\n\r\n", pause=0.1),
         (BAD_CHUNKS, TIMED_OUT), (503,), timeout=SLOW),
    Case("body shorter than its Content-Length", says(BUSY_HEAD + b"hello"), (SHORT_BODY,), (503,)),
    Case("NUL characters in the body", says(b"HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\na\0b\0c"), (None,), (503,)),
    Case("gzip that is not", says(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"),
         ("malformed body: cannot be decoded as its Content-Encoding says",), (200,)),
    Case("closes without answering", says(), (CLOSED,)),
    Case("closes before reading the request", says(read=False), (CLOSED, RESET)),
    Case("closes mid status line", says(b"HTTP/1.1 20"), (CLOSED,)),
    Case("closes mid headers", says(b"HTTP/1.1 200 OK\r\nX-A: b"), (CLOSED,)),
    Case("closes after 100 Continue", says(b"HTTP/1.1 100 Continue\r\n\r\n"), (CLOSED,)),
    Case("resets before the status line", says(end="reset"), (RESET, CLOSED)),
    Case("resets mid headers", says(b"HTTP/1.1 503 Busy\r\nX-A: b", end="reset"), (RESET, CLOSED)),
    Case("resets mid body", says(BUSY_HEAD + b"hello", end="reset"), (RESET, SHORT_BODY), (None, 503)),
    Case("hangs", says(end="hang"), (TIMED_OUT,), timeout=SLOW),
    Case("drips the status line", says(*(bytes([b]) for b in OK), pause=0.1), (TIMED_OUT,), timeout=SLOW),
    Case("drips headers past the deadline", says(b"HTTP/1.1 200 OK\r\n", *[b"X-Slow: y\r\n"] * 30, pause=0.1),
         (TIMED_OUT,), timeout=SLOW),
    Case("drips the body past the deadline", says(b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n", *[b"x"] * 30, pause=0.1),
         (TIMED_OUT,), (200,), timeout=SLOW),
    Case("slow within the deadline", says(b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n\r\n", b"ok", pause=0.1), (None,), (200,)),
    Case("a saved header value with a non-ASCII character", says(OK), (BAD_VALUE.format(4),), saved_headers={"X-Note": "caf\u00e9"}),
    Case("a saved header value with a vertical tab", says(OK), (BAD_VALUE.format(2),), saved_headers={"X-Note": "a\vb"}),
    Case("a saved header value with U+2028", says(OK), (BAD_VALUE.format(2),), saved_headers={"X-Note": "a\u2028b"}),
    Case("a saved header name ending in a newline", says(OK), (BAD_NAME,), saved_headers={"X-Note\n": "x"}),
]


def truncated() -> list[Case]:
    """A 503 with a body, plain and chunked, cut after every byte and closed: before the
    end of its headers there is no response yet, after it the status counts."""
    cases = []
    for whole, head, cut_short in ((BUSY, BUSY_HEAD, SHORT_BODY), (CHUNKED, CHUNKED_HEAD, CHUNKED_SHORT)):
        for cut in range(len(whole)):
            name = f"{whole[19:37]!r} cut at {cut}"
            if cut < len(head):
                cases.append(Case(name, says(whole[:cut]), (CLOSED,)))
            else:
                cases.append(Case(name, says(whole[:cut]), (cut_short,), (503,)))
    return cases


def random_answers(rng: random.Random) -> list[Case]:
    """Random bytes, and valid answers with random bytes changed, put in or taken out."""
    cases = [Case(f"random {n}", says(rng.randbytes(rng.choice((8, 64, 512, 4096)))), None, (None, *range(1000)))
             for n in range(RANDOM_ANSWERS)]
    for n in range(MUTATED_ANSWERS):
        answer = bytearray(rng.choice((OK, BUSY, CHUNKED)))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(answer))
            change = rng.randrange(4)
            if change == 0:
                answer[at] = rng.randrange(256)
            elif change == 1:
                answer[at:at] = rng.choice((b"\r\n", b"\n", b":", b" ", b"\0", rng.randbytes(rng.randint(1, 16))))
            elif change == 2:
                del answer[at:at + rng.randint(1, 8)]
            else:
                answer[at:at] = answer[at:at + rng.randint(1, 200)] * rng.randint(2, 50)
        cases.append(Case(f"mutated {n}", says(bytes(answer)), None, (None, *range(1000))))
    return cases


async def test_every_hostile_answer_ends_in_a_recorded_attempt(db, settings, clock, receiver, caplog, make_engine):
    caplog.set_level(logging.INFO, "hookline")
    quick = settings.replace(request_timeout=5, max_concurrency=128)
    cases = NAMED + truncated() + random_answers(random.Random(SEED))
    async with HostileReceiver([case.answer for case in cases]) as hostile:
        hooks = [make_webhook(quick, clock, hostile.url(n), events=["order.created"], timeout=case.timeout,
                              headers={"Authorization": CREDENTIAL}).id for n, case in enumerate(cases)]
        for case, hook in zip(cases, hooks):
            if case.saved_headers:
                Webhook.update(headers=case.saved_headers).where(Webhook.id == hook).execute()
        make_webhook(quick, clock, receiver.url(), headers={"Authorization": CREDENTIAL})
        emit(quick, clock)  # to every webhook
        engine = await make_engine(quick)
        running = asyncio.create_task(engine.run())
        for _ in range(5):  # to the healthy webhook only, while the others are being sent
            await anyio.to_thread.run_sync(emit, quick, clock, "user.signed_up")
            engine.dispatcher.wake()
        await running
    assert Delivery.select().where(Delivery.status == DELIVERING).count() == 0
    attempts = {attempt.delivery_id: attempt for attempt in Attempt.select()}
    assert len(attempts) == Attempt.select().count(), "one attempt per delivery"
    deliveries = {delivery.webhook_id: delivery for delivery in Delivery.select().where(Delivery.webhook.in_(hooks))}
    wrong = [(case.name, *outcome) for case, hook in zip(cases, hooks)
             if (outcome := unexpected_outcome(case, deliveries[hook], attempts.get(deliveries[hook].id)))]
    assert not wrong, f"{len(wrong)} of {len(cases)} answers: {wrong[:20]}"
    healthy = Delivery.select().where(Delivery.webhook.not_in(hooks))
    assert [delivery.status for delivery in healthy] == [SUCCEEDED] * 6
    assert len(receiver.to("/hook")) == 6
    assert CREDENTIAL not in caplog.text
    assert not [record for record in caplog.records if record.exc_info], "no traceback for a receiver's answer"


def unexpected_outcome(case: Case, delivery: Delivery, attempt: Attempt | None) -> tuple | None:
    """What is wrong with how an answer was recorded, or None. The receiver's answer never
    reaches the catch-all: every one of them has a reason of its own."""
    if attempt is None:
        return ("no attempt recorded", delivery.status)
    error, status = attempt.error, attempt.response_status
    if case.errors is None:
        reasonable = (error is None and status is not None) or (error is not None and error.startswith(REASONS))
    else:
        reasonable = error in case.errors
    moved_on = delivery.status == (FAILED if case.saved_headers else NEW_STATUS[classify(status)])
    if reasonable and status in case.statuses and moved_on and delivery.attempts == 1:
        return None
    return (delivery.status, status, error)


async def test_an_ordered_webhook_moves_on_past_a_broken_answer(db, settings, clock, engine):
    """A send that raised stayed `delivering`, its lease renewed for ever, a resend refused
    with 409, and every later event of an ordered webhook waited behind it. Now each one is
    an attempt, in turn."""
    async with HostileReceiver([says(b"HELLO THERE\r\n\r\n")]) as hostile:
        make_webhook(settings, clock, hostile.url(0), ordered=True, retry_schedule=[0])  # one attempt each
        emit(settings, clock)
        emit(settings, clock)
        await engine.run()
        assert hostile.connections == 2
    deliveries = list(Delivery.select())
    assert [(d.status, d.last_error) for d in deliveries] == [(FAILED, "not an HTTP response")] * 2
    assert resend_delivery(deliveries[0].id, None, clock()).status == PENDING, "not a 409 for ever"
