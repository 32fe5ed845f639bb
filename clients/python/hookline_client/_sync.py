"""`Hookline`: the blocking client, on httpx.Client. What to send and what an answer
means is decided in _core.py; this module sends, sleeps and runs the spool's sender thread."""

from __future__ import annotations

import logging
import random as _random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
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


class Hookline(_spool.SpoolCounters):
    """A client of one Hookline server, safe to share between threads.

    `emit` is retried by `retry` (connection errors, timeouts, 429, 503) with one
    idempotency key, so a retry after a lost answer returns the first event (`replayed`).
    With `spool="path.db"`, emits are written to that SQLite file and return `Spooled` at
    once; a background thread delivers them in order (see _spool.py). `sleep`, `clock`
    and `random` are injectable for tests of the retry timing; `http` replaces the httpx
    client (its base URL, headers and timeout are then the caller's, and so is closing it).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retry: _core.RetryPolicy = _core.RetryPolicy(),
        spool: str | None = None,
        spool_limits: _spool.SpoolLimits = _spool.SpoolLimits(),
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ):
        self._owns_http = http is None
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), headers=client_headers(api_key), timeout=timeout)
        self._retry, self._sleep, self._clock, self._random = retry, sleep, clock, random
        self.webhooks = Webhooks(self)
        self.deliveries = Deliveries(self)
        self.event_types = EventTypes(self)
        self._spool: _spool.SpoolFile | None = None
        if spool is not None:
            self._spool = _spool.SpoolFile(spool, spool_limits)
            self._wake = threading.Event()
            self._stop = threading.Event()
            self._sender = threading.Thread(target=self._send_spool, name="hookline-spool-sender", daemon=True)
            self._sender.start()

    def __enter__(self) -> Hookline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Emitting.

    def emit(self, type: str, data: Any, *, tenant: str | None = None,
             idempotency_key: str | None = None) -> Emitted | Spooled:
        """Emit one event. Without a spool: `Emitted` once Hookline stored it. With one:
        `Spooled` once it is on the local disk (Hookline is not waited for)."""
        body = _core.emit_body(type, data, tenant, idempotency_key)
        if self._spool is not None:
            return self._spooled([body])[0]
        return self.call(_core.emit_call(body))

    def emit_many(self, events: Iterable[Event | Mapping[str, Any]]) -> list[Emitted] | list[Spooled]:
        """Emit many events in order: batches of up to 1,000 (one transaction each on the
        server), or one transaction of the spool. A failure after the first batch raises
        PartialBatch with what was stored."""
        bodies = [_core.event_body(event) for event in events]
        if self._spool is not None:
            return self._spooled(bodies)
        emitted: list[Emitted] = []
        for run in _core.batches([len(_core.dumps(body)) for body in bodies]):
            try:
                stored = self.call(_core.batch_call([bodies[i] for i in run]))
            except errors.HooklineError as exc:
                if not emitted:
                    raise
                raise _core.PartialBatch(emitted, exc) from exc
            emitted += stored
        return emitted

    def _spooled(self, bodies: list[_core.Body]) -> list[Spooled]:
        assert self._spool is not None
        self._spool.append(bodies).result()
        self._wake.set()
        return [Spooled(body["idempotency_key"]) for body in bodies]

    # The spool, drained.

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every spooled event is delivered; False if `timeout` passed first."""
        return self._spool.wait_empty(timeout) if self._spool else True

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what the spool holds for up to `timeout` seconds, then stop; what is
        left stays in the file for the next start. Closes the HTTP connections it opened."""
        if self._spool is not None and not self._stop.is_set():
            self.flush(timeout)
            self._stop.set()
            self._wake.set()
            self._sender.join()
            self._spool.close()
        if self._owns_http:
            self._http.close()

    def _send_spool(self) -> None:
        assert self._spool is not None
        pace = _sending.Pace()
        while not self._stop.is_set():
            self._wake.clear()
            try:
                rows = self._spool.take(pace.batch_size()).result()
                if not rows:
                    self._wake.wait()
                    continue
                try:
                    outcome: Any = self._send(_sending.spool_call(rows))
                except errors.HooklineError as exc:
                    outcome = exc
                verdict = pace.after(rows, outcome, self._random())
                self._spool.settle(verdict.delivered, verdict.rejected).result()
            except Exception:  # the last line: a disk error must not end the sender for good
                log.exception("the spool sender failed; trying again shortly")
                self._stop.wait(1.0)
                continue
            _sending.log_verdict(verdict, outcome, pace.failures)
            if verdict.wait is not None:
                self._stop.wait(verdict.wait)

    # Any call.

    def call(self, call: _core.Call[T]) -> T:
        """Send `call`, retried as the policy allows; its value or its typed error."""
        attempts = _core.Attempts(self._retry, call.repeatable, self._clock(), self._random)
        while True:
            try:
                return self._send(call)
            except errors.HooklineError as failure:
                self._sleep(attempts.wait_after(failure, self._clock()))

    def _send(self, call: _core.Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.path, **request_args(call))
        except httpx.TransportError as exc:
            raise unreachable(exc) from exc
        return call.result(answer_of(response))


class Webhooks:
    def __init__(self, client: Hookline):
        self._call = client.call

    def list(self, *, tenant: str | None = None) -> list[Webhook]:
        return self._call(_core.list_webhooks(tenant))

    def create(self, url: str, *, tenant: str | None = None, **fields: Unpack[WebhookFields]) -> CreatedWebhook:
        """The answer holds the signing secret (`secret`), shown only this once."""
        return self._call(_core.create_webhook(url, fields, tenant))

    def get(self, webhook_id: str) -> Webhook:
        return self._call(_core.get_webhook(webhook_id))

    def update(self, webhook_id: str, *, url: str | None = None, **fields: Unpack[WebhookFields]) -> Webhook:
        return self._call(_core.update_webhook(webhook_id, {**fields, **({"url": url} if url else {})}))

    def delete(self, webhook_id: str) -> None:
        self._call(_core.delete_webhook(webhook_id))

    def test(self, webhook_id: str, *, type: str | None = None, data: Any = None) -> TestSend:
        return self._call(_core.send_test(webhook_id, type, data))


class Deliveries:
    def __init__(self, client: Hookline):
        self._call = client.call

    def list(self, webhook_id: str, *, status: str | None = None, event_type: str | None = None,
             limit: int | None = None, before: str | None = None) -> DeliveryPage:
        return self._call(_core.list_deliveries(webhook_id, status, event_type, limit, before))

    def get(self, delivery_id: str) -> DeliveryDetail:
        return self._call(_core.get_delivery(delivery_id))

    def resend(self, delivery_id: str) -> Delivery:
        return self._call(_core.resend_delivery(delivery_id))


class EventTypes:
    def __init__(self, client: Hookline):
        self._call = client.call

    def list(self, *, include_archived: bool = False) -> list[EventType]:
        return self._call(_core.list_event_types(include_archived))

    def get(self, name: str) -> EventType:
        return self._call(_core.get_event_type(name))

    def create(self, name: str, *, description: str | None = None, example: Any = None) -> EventType:
        return self._call(_core.create_event_type(name, description, example))

    def update(self, name: str, **fields: Any) -> EventType:
        """`description`, `example`, `archived` (admin keys)."""
        return self._call(_core.update_event_type(name, fields))
