"""POST /api/v1/events/batch: up to 1,000 events in one request and one transaction.

For producers that emit in bulk: one round trip and one commit instead of a thousand.
Each item is what the body of POST /api/v1/events would be, and is checked the same way;
an error names the item (`events[3].type`) and stores nothing of the batch.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.errors import InvalidInput, ServiceError
from app.services import events, tenants
from app.web.api import check_emit_fields, emitting_key, spend_emit_tokens
from app.web.inputs import read_fields
from app.web.sender import wake_sender

MAX_BATCH_EVENTS = 1000
# 1,000 events of a few KB each; a single event still may not exceed max_payload_bytes.
MAX_BATCH_BYTES = 8 * 1024 * 1024


class TooLarge(ServiceError):
    status_code = 413


def _item(index: int, item: object, max_bytes: int) -> dict:
    with events.batch_item(index):
        if not isinstance(item, dict):
            raise InvalidInput("type", "each item must be an object like the body of POST /api/v1/events")
        check_emit_fields(item)
        if len(json.dumps(item, separators=(",", ":"))) > max_bytes:
            raise TooLarge(f"larger than the limit of {max_bytes} bytes for one event", "data")
    return item


async def emit_batch(request: Request) -> Response:
    key = await emitting_key(request)
    settings, clock = request.app.state.settings, request.app.state.clock
    fields = await read_fields(request, MAX_BATCH_BYTES)
    unknown = sorted(set(fields) - {"events"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown field (allowed: events)")
    items = fields.get("events")
    if not isinstance(items, list) or not items:
        raise InvalidInput("events", "required: a list of 1 to 1000 events")
    if len(items) > MAX_BATCH_EVENTS:
        raise TooLarge(f"events: {len(items)} events; at most {MAX_BATCH_EVENTS} per request", "events")
    items = [_item(index, item, settings.max_payload_bytes) for index, item in enumerate(items)]
    spend_emit_tokens(request, key, len(items))

    def emit():
        now = clock()
        batch = []
        for index, item in enumerate(items):
            with events.batch_item(index):
                tenant = tenants.acting_tenant(key, item.get("tenant"))
            batch.append(events.EmitItem(tenant, item.get("type", item.get("event")), item.get("data", {}),
                                         item.get("idempotency_key")))
        return events.emit_events(batch, settings, now)

    emitted = await run_in_threadpool(emit)
    for one in emitted:
        request.app.state.metrics.event_accepted(one)
    if any(e.deliveries and not e.replayed for e in emitted):
        wake_sender(request)
    data = [{"id": e.event_id, "deliveries": e.deliveries, **({"replayed": True} if e.replayed else {})} for e in emitted]
    return JSONResponse({"data": data}, status_code=202)


routes = [Route("/api/v1/events/batch", emit_batch, methods=["POST"])]
