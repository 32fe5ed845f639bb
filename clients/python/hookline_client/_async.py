"""`AsyncHookline`: the asyncio client, on httpx.AsyncClient. The same calls and rules as
`Hookline` (_core.py); the spool's file has its own thread as there (SQLite blocks), and
its sender is a task on the app's event loop."""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar, Unpack

import httpx

from hookline_client import _core, _sending, _spool, errors
from hookline_client._http import answer_of, client_headers, request_args, unreachable
from hookline_client.types import (
    CreatedWebhook, DeliveryDetail, DeliveryPage, Delivery, Emitted, Event, EventType, Spooled, TestSend, Webhook,
    WebhookFields,
)

T = TypeVar("T")
log = logging.getLogger("hookline_client")


class AsyncHookline(_spool.SpoolCounters):
    """`Hookline` for asyncio: every method is awaited. With a spool, the sender task starts
    on `async with` or the first emit, so a restarted app that only wants its backlog
    sent enters the client (or calls `start()`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: _core.RetryPolicy = _core.RetryPolicy(),
        spool: str | None = None,
        spool_limits: _spool.SpoolLimits = _spool.SpoolLimits(),
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ):
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=client_headers(api_key),
                                               timeout=timeout)
        self._retry, self._sleep, self._clock, self._random = retry, sleep, clock, random
        self.webhooks = AsyncWebhooks(self)
        self.deliveries = AsyncDeliveries(self)
        self.event_types = AsyncEventTypes(self)
        self._spool = _spool.SpoolFile(spool, spool_limits) if spool is not None else None
        self._sender: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> AsyncHookline:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start the spool's sender on the running loop (done by `async with` and emits)."""
        if self._spool is not None and self._sender is None and not self._closed:
            self._wake = asyncio.Event()
            self._stop = asyncio.Event()
            self._sender = asyncio.get_running_loop().create_task(self._send_spool(), name="hookline-spool-sender")

    async def emit(self, type: str, data: Any, *, tenant: str | None = None,
                   idempotency_key: str | None = None) -> Emitted | Spooled:
        body = _core.emit_body(type, data, tenant, idempotency_key)
        if self._spool is not None:
            return (await self._spooled([body]))[0]
        return await self.call(_core.emit_call(body))

    async def emit_many(self, events: Iterable[Event | Mapping[str, Any]]) -> list[Emitted] | list[Spooled]:
        bodies = [_core.event_body(event) for event in events]
        if self._spool is not None:
            return await self._spooled(bodies)
        emitted: list[Emitted] = []
        for run in _core.batches([len(_core.dumps(body)) for body in bodies]):
            try:
                stored = await self.call(_core.batch_call([bodies[i] for i in run]))
            except errors.HooklineError as exc:
                if not emitted:
                    raise
                raise _core.PartialBatch(emitted, exc) from exc
            emitted += stored
        return emitted

    async def _spooled(self, bodies: list[_core.Body]) -> list[Spooled]:
        assert self._spool is not None
        self.start()
        await asyncio.wrap_future(self._spool.append(bodies))
        self._wake.set()
        return [Spooled(body["idempotency_key"]) for body in bodies]

    async def flush(self, timeout: float = 10.0) -> bool:
        if self._spool is None:
            return True
        self.start()
        return await asyncio.to_thread(self._spool.wait_empty, timeout)

    async def close(self, timeout: float = 5.0) -> None:
        if self._spool is not None and not self._closed:
            if self._sender is not None:
                await self.flush(timeout)
                self._stop.set()
                self._wake.set()
                await self._sender
            await asyncio.to_thread(self._spool.close)
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    async def _send_spool(self) -> None:
        assert self._spool is not None
        pace = _sending.Pace()
        while not self._stop.is_set():
            self._wake.clear()
            try:
                rows = await asyncio.wrap_future(self._spool.take(pace.batch_size()))
                if not rows:
                    await self._wake.wait()
                    continue
                try:
                    outcome: Any = await self._send(_sending.spool_call(rows))
                except errors.HooklineError as exc:
                    outcome = exc
                verdict = pace.after(rows, outcome, self._random())
                await asyncio.wrap_future(self._spool.settle(verdict.delivered, verdict.rejected))
            except Exception:  # the last line: a disk error must not end the sender for good
                log.exception("the spool sender failed; trying again shortly")
                await _wait(self._stop, 1.0)
                continue
            _sending.log_verdict(verdict, outcome, pace.failures)
            if verdict.wait is not None:
                await _wait(self._stop, verdict.wait)

    async def call(self, call: _core.Call[T]) -> T:
        attempts = _core.Attempts(self._retry, call.repeatable, self._clock(), self._random)
        while True:
            try:
                return await self._send(call)
            except errors.HooklineError as failure:
                await self._sleep(attempts.wait_after(failure, self._clock()))

    async def _send(self, call: _core.Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, **request_args(call))
        except httpx.TransportError as exc:
            raise unreachable(exc) from exc
        return call.result(answer_of(response))


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `event` is set meanwhile."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass


class AsyncWebhooks:
    def __init__(self, client: AsyncHookline):
        self._call = client.call

    async def list(self, *, tenant: str | None = None) -> list[Webhook]:
        return await self._call(_core.list_webhooks(tenant))

    async def create(self, url: str, *, tenant: str | None = None, **fields: Unpack[WebhookFields]) -> CreatedWebhook:
        return await self._call(_core.create_webhook(url, fields, tenant))

    async def get(self, webhook_id: str) -> Webhook:
        return await self._call(_core.get_webhook(webhook_id))

    async def update(self, webhook_id: str, *, url: str | None = None, **fields: Unpack[WebhookFields]) -> Webhook:
        return await self._call(_core.update_webhook(webhook_id, {**fields, **({"url": url} if url else {})}))

    async def delete(self, webhook_id: str) -> None:
        await self._call(_core.delete_webhook(webhook_id))

    async def test(self, webhook_id: str, *, type: str | None = None, data: Any = None) -> TestSend:
        return await self._call(_core.send_test(webhook_id, type, data))


class AsyncDeliveries:
    def __init__(self, client: AsyncHookline):
        self._call = client.call

    async def list(self, webhook_id: str, *, status: str | None = None, event_type: str | None = None,
                   limit: int | None = None, before: str | None = None) -> DeliveryPage:
        return await self._call(_core.list_deliveries(webhook_id, status, event_type, limit, before))

    async def get(self, delivery_id: str) -> DeliveryDetail:
        return await self._call(_core.get_delivery(delivery_id))

    async def resend(self, delivery_id: str) -> Delivery:
        return await self._call(_core.resend_delivery(delivery_id))


class AsyncEventTypes:
    def __init__(self, client: AsyncHookline):
        self._call = client.call

    async def list(self, *, include_archived: bool = False) -> list[EventType]:
        return await self._call(_core.list_event_types(include_archived))

    async def get(self, name: str) -> EventType:
        return await self._call(_core.get_event_type(name))

    async def create(self, name: str, *, description: str | None = None, example: Any = None) -> EventType:
        return await self._call(_core.create_event_type(name, description, example))

    async def update(self, name: str, **fields: Any) -> EventType:
        return await self._call(_core.update_event_type(name, fields))
