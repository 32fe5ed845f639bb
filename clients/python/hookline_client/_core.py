"""The sans-I/O core both clients share: what each call sends, what an answer means, and
whether a failure is worth another attempt.

Nothing here touches the network, a clock or a thread: `Hookline` and `AsyncHookline`
only move bytes (httpx, sync or async) and sleep, so the rules below are written once and
table-tested without a server (tests/client/test_core.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from hookline_client import errors
from hookline_client.types import (
    CreatedWebhook, Delivery, DeliveryDetail, DeliveryPage, Emitted, Event, EventType, TestSend, Webhook,
)

T = TypeVar("T")

MAX_BATCH_EVENTS = 1000  # POST /api/v1/events/batch takes at most this many
# The batch endpoint refuses bodies over 8 MiB; stay well below (the envelope adds a little).
MAX_BATCH_BYTES = 7 * 1024 * 1024
EMIT_FIELDS = ("type", "data", "tenant", "idempotency_key")

Body = dict[str, Any]  # a JSON object, as sent


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as the core needs it: status, headers (lower-case names), body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _none(answer: Answer) -> None:
    return None


def _json(answer: Answer) -> Any:
    return answer.json()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to read its answer.

    `repeatable`: sending it twice does no more than sending it once (reads, updates, and
    emits, which carry an idempotency key), so it may be sent again when its answer was
    lost. Others (create or delete a webhook, resend, test) are sent again only when they
    certainly never arrived, or the server said it did nothing (429, 503).
    """

    method: str
    path: str
    body: object = None
    params: Mapping[str, str] | None = None
    repeatable: bool = True
    invalid: type[errors.InvalidInput] = errors.InvalidInput
    read: Callable[[Answer], T] = field(default=_json)

    def content(self) -> bytes | None:
        return None if self.body is None else dumps(self.body)

    def result(self, answer: Answer) -> T:
        """The call's value, or its typed error."""
        if answer.status >= 400:
            raise error_for(answer, self.invalid)
        return self.read(answer)


def dumps(value: object) -> bytes:
    """Strict JSON as the server accepts it: NaN and Infinity raise ValueError here, before
    anything is sent or spooled."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


_ERRORS_BY_STATUS: dict[int, type[errors.APIError]] = {
    401: errors.AuthError,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.TooLarge,
    429: errors.RateLimited,
    503: errors.Unavailable,
}


def error_for(answer: Answer, invalid: type[errors.InvalidInput] = errors.InvalidInput) -> errors.APIError:
    """The typed error for an answer of 400 or more, with the server's message and field
    (`{"error": {"message", "field"}}`); a body of another shape (a proxy's page) is quoted."""
    message, field_name = _error_body(answer)
    retry_after = parse_retry_after(answer.headers.get("retry-after"))
    if answer.status == 422:
        kind: type[errors.APIError] = invalid
    elif answer.status in _ERRORS_BY_STATUS:
        kind = _ERRORS_BY_STATUS[answer.status]
    elif answer.status >= 500:
        kind = errors.ServerError
    else:
        kind = errors.BadRequest
    return kind(answer.status, message, field_name, retry_after)


def _error_body(answer: Answer) -> tuple[str, str | None]:
    try:
        error = answer.json()["error"]
        message, field_name = error["message"], error.get("field")
        if isinstance(message, str) and (field_name is None or isinstance(field_name, str)):
            return message, field_name
    except (ValueError, KeyError, TypeError):
        pass
    text = answer.body[:200].decode("utf-8", "replace").strip()
    return f"HTTP {answer.status}" + (f": {text}" if text else ""), None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds, or an HTTP date
    (which needs `now`, Unix seconds). None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        if now is None:
            return None
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable too


# Emits.

def new_idempotency_key() -> str:
    return f"hlc_{uuid.uuid4().hex}"


def emit_body(type: str, data: object, tenant: str | None, idempotency_key: str | None) -> Body:
    """The body of POST /api/v1/events (and one item of a batch), always with a key: the
    same key on every retry is what makes a retry after a lost answer safe."""
    body: Body = {"type": type, "data": data, "idempotency_key": idempotency_key or new_idempotency_key()}
    if tenant is not None:
        body["tenant"] = tenant
    return body


def event_body(event: Event | Mapping[str, Any]) -> Body:
    """One item of `emit_many`, checked here: a typo would otherwise cost the whole batch."""
    unknown = sorted(set(event) - set(EMIT_FIELDS))
    if unknown or "type" not in event:
        raise ValueError(f"an event needs `type` and may have {', '.join(EMIT_FIELDS[1:])}; got {sorted(event)}")
    return emit_body(event["type"], event.get("data", {}), event.get("tenant"), event.get("idempotency_key"))


def _emitted(answer: Answer) -> Emitted:
    body = answer.json()
    return Emitted(body["id"], body["deliveries"], answer.headers.get("idempotent-replayed") == "true")


def _emitted_batch(answer: Answer) -> list[Emitted]:
    return [Emitted(item["id"], item["deliveries"], bool(item.get("replayed"))) for item in answer.json()["data"]]


def emit_call(body: Body) -> Call[Emitted]:
    return Call("POST", "/api/v1/events", body, invalid=errors.InvalidEvent, read=_emitted)


def batch_call(bodies: list[Body]) -> Call[list[Emitted]]:
    return Call("POST", "/api/v1/events/batch", {"events": bodies}, invalid=errors.InvalidEvent, read=_emitted_batch)


def batches(sizes: Sequence[int]) -> Iterator[list[int]]:
    """Indexes of events whose JSON bodies are `sizes` bytes long, split into runs the batch
    endpoint takes: at most 1,000 events and MAX_BATCH_BYTES each."""
    run: list[int] = []
    run_bytes = 0
    for index, length in enumerate(sizes):
        if run and (len(run) == MAX_BATCH_EVENTS or run_bytes + length + 1 > MAX_BATCH_BYTES):
            yield run
            run, run_bytes = [], 0
        run.append(index)
        run_bytes += length + 1
    if run:
        yield run


class PartialBatch(errors.HooklineError):
    """Raised by `emit_many` when a batch after the first failed: the events of earlier
    batches are stored (`emitted`, in order), the rest are not; `error` says why.
    Send `events[len(emitted):]` again to go on."""

    def __init__(self, emitted: list[Emitted], error: errors.HooklineError):
        super().__init__(f"{len(emitted)} events were stored before a batch failed: {error}")
        self.emitted = emitted
        self.error = error


# Retries.

@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a call is tried: at most `max_attempts` attempts within
    `max_elapsed` seconds, waiting base_delay·2ⁿ (capped at max_delay, each wait drawn
    between half and all of it so that many clients do not retry in step), and never less
    than the server's Retry-After. A wait that would end past `max_elapsed` is not taken:
    the error is raised instead."""

    max_attempts: int = 5
    max_elapsed: float = 30.0
    base_delay: float = 0.25
    max_delay: float = 8.0

    def backoff(self, failures: int, retry_after: float | None, random: float) -> float:
        """The wait after the `failures`-th failure in a row; `random` in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        wait = ceiling * (0.5 + random / 2)
        return max(wait, retry_after) if retry_after is not None else wait

    def next_delay(self, failures: int, elapsed: float, failure: errors.HooklineError, repeatable: bool,
                   random: float) -> float | None:
        """Seconds to wait before attempt `failures + 1`, or None: raise `failure`."""
        if failures >= self.max_attempts or not worth_retrying(failure, repeatable):
            return None
        wait = self.backoff(failures, retry_after_of(failure), random)
        return wait if elapsed + wait <= self.max_elapsed else None


def retry_after_of(failure: errors.HooklineError) -> float | None:
    return failure.retry_after if isinstance(failure, errors.APIError) else None



# The server says nothing was done: over a rate limit, or its database was unavailable.
NOTHING_DONE = {429, 503}
# A proxy in front of Hookline failed: the request may or may not have been processed.
GATEWAY_FAILED = {502, 504}


def worth_retrying(failure: errors.HooklineError, repeatable: bool) -> bool:
    """A failure another attempt may fix, and that is safe to try again: everything the
    server did not process, and for repeatable calls also lost answers."""
    if isinstance(failure, errors.Unreachable):
        return repeatable or not failure.request_sent
    if isinstance(failure, errors.APIError):
        return failure.status in NOTHING_DONE or (repeatable and failure.status in GATEWAY_FAILED)
    return False


class Attempts:
    """One call's attempts so far, against the policy: the loop in each client is
    `try: return send() except HooklineError as e: sleep(attempts.wait_after(e))`."""

    def __init__(self, policy: RetryPolicy, repeatable: bool, now: float, random: Callable[[], float]):
        self._policy, self._repeatable, self._started, self._random = policy, repeatable, now, random
        self.failures = 0

    def wait_after(self, failure: errors.HooklineError, now: float) -> float:
        """The wait before the next attempt; raises `failure` when there is none."""
        self.failures += 1
        wait = self._policy.next_delay(self.failures, now - self._started, failure, self._repeatable, self._random())
        if wait is None:
            raise failure
        return wait


# The other resources: thin, the JSON as the server sends it.

def _path(template: str, *ids: str) -> str:
    return template.format(*(quote(str(i), safe="") for i in ids))


def _params(**values: object) -> dict[str, str]:
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items() if v is not None}


def list_webhooks(tenant: str | None) -> Call[list[Webhook]]:
    return Call("GET", "/api/v1/webhooks", params=_params(tenant=tenant), read=lambda a: a.json()["data"])


def create_webhook(url: str, fields: Mapping[str, Any], tenant: str | None) -> Call[CreatedWebhook]:
    body = {"url": url, **fields, **({"tenant": tenant} if tenant is not None else {})}
    return Call("POST", "/api/v1/webhooks", body, repeatable=False)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", _path("/api/v1/webhooks/{}", webhook_id))


def update_webhook(webhook_id: str, fields: Mapping[str, Any]) -> Call[Webhook]:
    return Call("PATCH", _path("/api/v1/webhooks/{}", webhook_id), dict(fields))


def delete_webhook(webhook_id: str) -> Call[None]:
    """Not repeated after a lost answer: the repeat of a delete that happened is a 404."""
    return Call("DELETE", _path("/api/v1/webhooks/{}", webhook_id), repeatable=False, read=_none)


def send_test(webhook_id: str, type: str | None, data: object) -> Call[TestSend]:
    body = {k: v for k, v in (("type", type), ("data", data)) if v is not None}
    return Call("POST", _path("/api/v1/webhooks/{}/test", webhook_id), body, repeatable=False)


def list_deliveries(webhook_id: str, status: str | None, event_type: str | None, limit: int | None,
                    before: str | None) -> Call[DeliveryPage]:
    params = _params(status=status, event_type=event_type, limit=limit, before=before)
    return Call("GET", _path("/api/v1/webhooks/{}/deliveries", webhook_id), params=params)


def get_delivery(delivery_id: str) -> Call[DeliveryDetail]:
    return Call("GET", _path("/api/v1/deliveries/{}", delivery_id))


def resend_delivery(delivery_id: str) -> Call[Delivery]:
    return Call("POST", _path("/api/v1/deliveries/{}/resend", delivery_id), repeatable=False)


def list_event_types(include_archived: bool) -> Call[list[EventType]]:
    return Call("GET", "/api/v1/event-types", params=_params(include_archived=include_archived),
                read=lambda a: a.json()["data"])


def get_event_type(name: str) -> Call[EventType]:
    return Call("GET", _path("/api/v1/event-types/{}", name))


def create_event_type(name: str, description: str | None, example: object) -> Call[EventType]:
    body: dict[str, Any] = {"name": name}
    if description is not None:
        body["description"] = description
    if example is not None:
        body["example"] = example
    return Call("POST", "/api/v1/event-types", body, repeatable=False)


def update_event_type(name: str, fields: Mapping[str, Any]) -> Call[EventType]:
    return Call("PATCH", _path("/api/v1/event-types/{}", name), dict(fields))
