"""Request bodies, made at send time, off the claim, the writer thread and the event loop.

A claim used to render each delivery's body inside its transaction, on the thread that
also commits every tenant's emits: one tenant's slow template stalled every tenant, and one
that raised an error nobody expected failed every claim. Now a claim only reads what a body
is made of (`Payload`), and the sender makes it just before the request:

- `standard` without a template: the envelope as stored; no render, no thread, no process.
  A contract's own envelope (app/rules/placeholders.py) is one join of pieces compiled when it
  was saved, in the sender's loop: microseconds, the same bytes at every attempt.
- a default chat message: our own templates, bounded by the event's size, rendered in this
  process on a worker thread (app/delivery/render_pool.py has the measurements).
- a custom template: in a render process, bounded in CPU time and memory. One tenant's
  renders take turns, so a tenant with a slow template holds at most one render process;
  and after a render that ran out of CPU time the tenant's next one waits nine times as
  long, so a template that overruns on every event keeps a core busy a tenth of the time,
  not all of it. (On 2 cores, another tenant's emit p99 was up to 1.8x as long while such
  a template rendered without a pause, up to 1.7x with a pause of three times.)

A custom template that fails on an event, whatever the cause, sends the format's default
message saying so (`formats.fallback_body`), and is logged at most once an hour per
webhook: a template that fails on every event of a busy webhook would flood the log.
Saving a template renders it the same way, with the same bounds, against a sample event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from dataclasses import dataclass, field

import anyio

from app.config import Settings
from app.delivery import formats, render_pool
from app.delivery.types import ClaimedDelivery, Payload
from app.rules.clock import Clock
from app.rules.errors import InvalidInput
from app.rules.ratelimit import Rate, RateLimiter
from app.storage.models import PAYLOAD_FORMATS

log = logging.getLogger("hookline.payloads")

FAILURE_LOG_PERIOD = 3600  # seconds: one line per webhook with a failing template
OVERRUN_PAUSE = 9  # times template_cpu_limit, after a render that ran out of it


@dataclass(eq=False)
class _Turn:
    """A tenant's place in the render processes: one render at a time, first come first served."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    resume_at: float = 0.0  # loop time; after an overrun


@dataclass(eq=False)
class _Body:
    """One payload's body, made by the first delivery that needs it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    data: bytes | None = None


class PayloadRenderer:
    """Makes the bytes a delivery sends (and signs); one per dispatcher."""

    def __init__(self, settings: Settings, clock: Clock):
        self._settings = settings
        self._clock = clock
        # Threads of our own, not the pool that serves web requests: a render waiting on
        # its process must not hold a thread a request needs, nor wait for one.
        self._local_threads = anyio.CapacityLimiter(1)  # the default templates hold the GIL
        self._pool_threads = anyio.CapacityLimiter(render_pool.WORKERS)
        # Kept while a claimed delivery holds its payload: a claim's fan-out renders once.
        self._bodies: weakref.WeakKeyDictionary[Payload, _Body] = weakref.WeakKeyDictionary()
        self._turns: weakref.WeakValueDictionary[int, _Turn] = weakref.WeakValueDictionary()
        self._failure_log = RateLimiter(Rate(1, FAILURE_LOG_PERIOD))

    async def body(self, claimed: ClaimedDelivery) -> bytes:
        payload = claimed.payload
        if payload.is_envelope:
            envelope = claimed.contract.envelope
            return payload.envelope if envelope is None else envelope.render(claimed.message)
        body = self._bodies.get(payload)
        if body is None:
            body = self._bodies[payload] = _Body()
        async with body.lock:
            if body.data is None:
                body.data = await self._render(claimed)
        return body.data

    async def _render(self, claimed: ClaimedDelivery) -> bytes:
        payload = claimed.payload
        if payload.payload_template is None:
            return await self._in_process(payload, formats.default_body, payload.payload_format, payload.envelope)
        cpu_limit = self._settings.template_cpu_limit
        pool = render_pool.shared_pool(cpu_limit, self._settings.template_memory_limit)
        try:
            async with self._turn(payload.tenant_id) as turn:
                loop = asyncio.get_running_loop()
                await asyncio.sleep(max(0.0, turn.resume_at - loop.time()))
                try:
                    return await anyio.to_thread.run_sync(pool.render, payload.payload_template, payload.envelope,
                                                          limiter=self._pool_threads)
                except render_pool.TemplateOverran:
                    turn.resume_at = loop.time() + OVERRUN_PAUSE * cpu_limit
                    raise
        except render_pool.TemplateFailed as exc:
            reason = str(exc)
        except OSError as exc:  # no render process could start (out of processes or memory)
            reason = f"no render process: {exc.strerror or exc}"
        if self._failure_log.take(claimed.webhook_id, self._clock()) == 0:
            log.warning("the payload template of webhook %s failed on event %s (%s); sent the default body instead "
                        "(the envelope, for standard). Logged once an hour per webhook.",
                        claimed.webhook_id, claimed.event_id, reason)
        return await self._in_process(payload, formats.fallback_body, payload.payload_format, payload.envelope, reason)

    async def _in_process(self, payload: Payload, make, *args) -> bytes:
        """Our own templates: they do not fail on JSON, but should one, the envelope goes."""
        try:
            return await anyio.to_thread.run_sync(make, *args, limiter=self._local_threads)
        except Exception:
            if self._failure_log.take(payload.payload_format, self._clock()) == 0:
                log.exception("the default %s message failed; sent the event envelope instead", payload.payload_format)
            return payload.envelope

    @contextlib.asynccontextmanager
    async def _turn(self, tenant_id: int):
        """The tenant's turn, kept while a render waits for it or holds it."""
        turn = self._turns.get(tenant_id)
        if turn is None:
            turn = self._turns[tenant_id] = _Turn()
        async with turn.lock:
            yield turn


def checked_format(value: object) -> str:
    if value not in PAYLOAD_FORMATS:
        raise InvalidInput("payload_format", f"must be one of {', '.join(PAYLOAD_FORMATS)}")
    return value


def validate_template(payload_format: str, template: object, event: dict, settings: Settings) -> str | None:
    """The template to store (None: the format's default), or InvalidInput saying what is
    wrong. It is rendered against `event` (an event type's example, or a sample) in a render
    process, with the bounds it will have on live events, and its output must be JSON.
    This blocks the calling thread (a web request's) for as long as the render takes."""
    checked_format(payload_format)
    template = _template_text(template)
    if template is not None:
        _render_sample(template, event, settings)
    return template


def sample_body(payload_format: str, template: object, event: dict, settings: Settings) -> bytes | None:
    """The body a webhook of this format and template sends for `event`, made as the
    sender makes it (a template in a render process, bounded); None for a `standard` one
    without a template, whose body is its contract's envelope. For the dashboard's preview,
    which must show the request a receiver gets, not the envelope it never sees."""
    checked_format(payload_format)
    template = _template_text(template)
    if template is not None:
        return _render_sample(template, event, settings)
    return None if payload_format == "standard" else formats.default_body(payload_format, json.dumps(event).encode())


def _template_text(template: object) -> str | None:
    if template is None or (isinstance(template, str) and not template.strip()):
        return None
    if not isinstance(template, str) or len(template) > formats.MAX_TEMPLATE_CHARS:
        raise InvalidInput("payload_template", f"must be text of at most {formats.MAX_TEMPLATE_CHARS} characters")
    return template


def _render_sample(template: str, event: dict, settings: Settings) -> bytes:
    pool = render_pool.shared_pool(settings.template_cpu_limit, settings.template_memory_limit)
    try:
        return pool.render(template, json.dumps(event).encode())
    except render_pool.TemplateFailed as exc:
        raise InvalidInput("payload_template", str(exc)) from None
