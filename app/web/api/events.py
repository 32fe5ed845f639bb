"""POST /api/v1/events and /api/v1/events/batch: accept events from apps.

Handlers only parse, authorise and render. A single emit goes through the group-commit
writer; a batch of up to 1,000 events is one request and one transaction of its own (why:
app/services/__init__.py), each item checked as the body of POST /api/v1/events would be,
and an error names the item (`events[3].type`) and stores nothing of the batch.

Trace context (W3C `traceparent`/`tracestate`, app/rules/tracecontext.py): a single emit
takes it from its request headers, where tracing libraries put it. A batch carries many
traces, so each item may send its own as fields; an item that sends neither field takes
the request's headers. A malformed one is a 422 naming it (why: the rules module).
"""

from __future__ import annotations

import json
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rules.errors import InvalidInput, ServiceError, reject_unknown
from app.rules.tracecontext import TRACEPARENT, TRACESTATE, InvalidTraceContext, TraceContext, trace_context
from app.services import events, tenants
from app.storage.models import ApiKey
from app.web.inputs import FORM_TYPE, api_key, client_ip, content_type, parse_json, read_fields, within_rate
from app.web.serializers import JSONResponse
from app.web.wakeup import wake_sender

EMIT_FIELDS = {"type", "event", "data", "tenant", "idempotency_key"}
BATCH_ITEM_FIELDS = EMIT_FIELDS | {TRACEPARENT, TRACESTATE}


def check_emit_fields(fields: dict, allowed: set[str] = EMIT_FIELDS) -> None:
    """One event's fields: the body of POST /api/v1/events, or one item of a batch."""
    reject_unknown(fields, allowed)
    if "type" in fields and "event" in fields and fields["type"] != fields["event"]:
        raise InvalidInput("event", "is an alias of type; send only one of them")


async def emitting_key(request: Request) -> ApiKey:
    """The caller's API key, checked after the per-address limit (so floods of bad keys
    are limited too)."""
    within_rate(_state(request).limits.emit_ip, client_ip(request), request, "events from this address")
    return await api_key(request)


def spend_emit_tokens(request: Request, key: ApiKey, events: int = 1) -> None:
    """The per-key limit counts events, so a batch costs as many as it holds."""
    within_rate(_state(request).limits.emit_key, key.id, request, "events for this API key", cost=events)


def checked_trace(traceparent: object, tracestate: object) -> TraceContext | None:
    try:
        return trace_context(traceparent, tracestate)
    except InvalidTraceContext as exc:
        raise InvalidInput(exc.header, exc.problem) from None


def request_trace(request: Request) -> TraceContext | None:
    """The request's trace headers. Several `tracestate` lines are one list (the spec's
    combining rule); several `traceparent` lines cannot be told apart and are refused."""
    parents = request.headers.getlist(TRACEPARENT)
    if len(parents) > 1:
        raise InvalidInput(TRACEPARENT, "sent more than once; send one")
    states = request.headers.getlist(TRACESTATE)
    return checked_trace(parents[0] if parents else None, ",".join(states) if states else None)


def _state(request: Request):
    return request.app.state


async def emit_event(request: Request) -> Response:
    key = await emitting_key(request)
    spend_emit_tokens(request, key)
    settings = _state(request).settings
    fields = await read_fields(request, settings.max_payload_bytes, allow_form=True)
    check_emit_fields(fields)
    trace = request_trace(request)
    type_name = fields.get("type", fields.get("event"))
    data = fields.get("data", {})
    if content_type(request) == FORM_TYPE:  # form fields are text; `data` holds JSON text
        data = parse_json(data, field="data") if data.strip() else {}
    idempotency_key = request.headers.get("idempotency-key", fields.get("idempotency_key"))

    def emit(now, lookups):
        tenant = tenants.for_write(tenants.acting_tenant(key, fields.get("tenant")), now, lookups.tenants)
        return events.emit_event(tenant, type_name, data, settings, now, idempotency_key=idempotency_key,
                                 lookups=lookups, trace=trace)

    began = time.time_ns()
    emitted = await _state(request).writer.write(emit)
    if (tracing := _state(request).tracing) is not None:
        tracing.emitted(began, [(trace, type_name, emitted)])
    _state(request).metrics.events_accepted(0 if emitted.replayed else 1)
    if emitted.deliveries and not emitted.replayed:
        wake_sender(request)
    headers = {"Idempotent-Replayed": "true"} if emitted.replayed else None
    return JSONResponse({"id": emitted.event_id, "deliveries": emitted.deliveries}, status_code=202, headers=headers)


MAX_BATCH_EVENTS = 1000
# 1,000 events of a few KB each; a single event still may not exceed max_payload_bytes.
MAX_BATCH_BYTES = 8 * 1024 * 1024


class TooLarge(ServiceError):
    status_code = 413


def _item(index: int, item: object, max_bytes: int) -> dict:
    with events.batch_item(index):
        if not isinstance(item, dict):
            raise InvalidInput("type", "each item must be an object like the body of POST /api/v1/events")
        check_emit_fields(item, BATCH_ITEM_FIELDS)
        if len(json.dumps(item, separators=(",", ":"))) > max_bytes:
            raise TooLarge(f"larger than the limit of {max_bytes} bytes for one event", "data")
    return item


async def emit_batch(request: Request) -> Response:
    key = await emitting_key(request)
    settings, clock = request.app.state.settings, request.app.state.clock
    fields = await read_fields(request, MAX_BATCH_BYTES, allowed={"events"})
    items = fields.get("events")
    if not isinstance(items, list) or not items:
        raise InvalidInput("events", "required: a list of 1 to 1000 events")
    if len(items) > MAX_BATCH_EVENTS:
        raise TooLarge(f"events: {len(items)} events; at most {MAX_BATCH_EVENTS} per request", "events")
    items = [_item(index, item, settings.max_payload_bytes) for index, item in enumerate(items)]
    spend_emit_tokens(request, key, len(items))
    request_default = request_trace(request)

    batch = []
    for index, item in enumerate(items):
        with events.batch_item(index):
            tenant = tenants.acting_tenant(key, item.get("tenant"))
            trace = request_default if TRACEPARENT not in item and TRACESTATE not in item else checked_trace(
                item.get(TRACEPARENT), item.get(TRACESTATE))
        batch.append(events.EmitItem(tenant, item.get("type", item.get("event")), item.get("data", {}),
                                     item.get("idempotency_key"), trace))
    began = time.time_ns()
    emitted = await run_in_threadpool(events.emit_events, batch, settings, clock())
    if (tracing := request.app.state.tracing) is not None:
        tracing.emitted(began, [(item.trace, item.type_name, one) for item, one in zip(batch, emitted)])
    request.app.state.metrics.events_accepted(sum(not one.replayed for one in emitted))
    if any(e.deliveries and not e.replayed for e in emitted):
        wake_sender(request)
    data = [{"id": e.event_id, "deliveries": e.deliveries, **({"replayed": True} if e.replayed else {})} for e in emitted]
    return JSONResponse({"data": data}, status_code=202)


routes = [
    Route("/api/v1/events", emit_event, methods=["POST"]),
    Route("/api/v1/events/batch", emit_batch, methods=["POST"]),
]
