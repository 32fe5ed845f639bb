"""JSON API v1: `hookline listen` sessions, a Server-Sent Events stream and a POST per result.

`GET /api/v1/listen?events=order.*,invoice.paid&forward_to=http://localhost:3000/webhooks`
opens a session (an ephemeral webhook of the key's tenant) and streams, as
`text/event-stream`:

- `event: session`, once: the session's webhook id, signing secret and events;
- `event: delivery` per attempt: the signed request to forward (headers, body) and the
  local timeout to use;
- `event: end` when the server shuts down (the CLI reconnects), and a comment line every
  PING_SECONDS so proxies and the CLI can tell a silent stream from a dead one.

`POST /api/v1/listen/{id}/results` reports what the local URL answered to one delivery;
it becomes the attempt. When the stream ends, however it ends, the session's webhook is
removed and its pending deliveries cancelled.

Why SSE and a POST rather than a WebSocket: both directions would fit one WebSocket, but
uvicorn serves WebSockets only with `websockets` or `wsproto` installed and the CLI would
need a client library too (httpx has none), while SSE is a plain streaming GET that httpx
reads line by line and every proxy passes. The price is one more HTTP request per
delivery for the result, and it is small: `python -m bench.listen` (200 events one at a
time, loopback, 2 shared cores) measured emit to local arrival at p50 14 ms through a
session against 17 ms for a webhook the sender POSTs, and the push, the CLI's work, the
results POST and the record's commit together at p50 4.8 ms beyond the local request,
the part a WebSocket could shrink. The POST must reach the
process that holds the stream: behind a balancer over several web processes, route
/api/v1/listen with session affinity (a report that reaches another process is a 404,
and the push is retried on schedule after its timeout).
"""

from __future__ import annotations

import asyncio
import json

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.delivery.listen_push import ListenHub, ListenSession, LocalAnswer
from app.rules.errors import InvalidInput, NotFound
from app.services import listen_sessions, tenants
from app.web.inputs import api_key, read_fields, scope_of

PING_SECONDS = 15
SECRET_HEADER = "hookline-listen-secret"  # a reconnecting CLI keeps its secret (never in a URL, so never in a log)
RESULT_FIELDS = {"delivery_id", "status_code", "duration_ms", "response_body", "error"}
MAX_RESULT_TEXT = 4096


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def open_stream(request: Request) -> Response:
    key = await api_key(request)
    state = request.app.state
    hub: ListenHub = state.listen_hub
    params = request.query_params
    tenant = tenants.acting_tenant(key, params.get("tenant"))
    events = [pattern.strip() for pattern in params.get("events", "*").split(",") if pattern.strip()]
    opened = await run_in_threadpool(
        listen_sessions.open_session, tenant, events, params.get("forward_to", ""),
        request.headers.get(SECRET_HEADER), state.settings, state.clock(),
    )
    webhook = opened.webhook
    session = hub.attach(webhook.id, webhook.tenant_id)
    hello = {"webhook_id": webhook.id, "secret": opened.secret, "events": webhook.events,
             "forward_to": webhook.url, "tenant": webhook.tenant.slug}

    async def end_session() -> None:
        hub.detach(session)
        await run_in_threadpool(listen_sessions.close_session, webhook.id, state.clock())

    return StreamingResponse(
        _frames(session, sse("session", hello)), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},  # nginx: pass each event at once
        background=BackgroundTask(end_session),
    )


async def _frames(session: ListenSession, first: bytes):
    """The stream's bytes until the server ends it; a client that goes away ends it too
    (Starlette cancels the response, and the background task ends the session)."""
    yield first
    while True:
        try:
            push = await asyncio.wait_for(session.outbox.get(), PING_SECONDS)
        except TimeoutError:
            yield b": ping\n\n"
            continue
        if push is None:
            yield sse("end", {"reason": "the server is shutting down"})
            return
        yield sse("delivery", push)


async def report_result(request: Request) -> Response:
    key = await api_key(request)
    state = request.app.state
    fields = await read_fields(request, state.settings.max_payload_bytes, allowed=RESULT_FIELDS)
    delivery_id = fields.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id:
        raise InvalidInput("delivery_id", "must be the delivery_id of the pushed delivery")
    if not state.listen_hub.answer(request.path_params["id"], scope_of(key), delivery_id, local_answer(fields)):
        raise NotFound(f"no delivery {delivery_id!r} of listen session {request.path_params['id']!r} is waiting "
                       "for a result in this process: it timed out, or the session ended")
    return Response(status_code=204)


def local_answer(fields: dict) -> LocalAnswer:
    """The report's fields, checked; each problem names its field (422)."""
    status_code = fields.get("status_code")
    if status_code is not None and (type(status_code) is not int or not 100 <= status_code <= 599):
        raise InvalidInput("status_code", "must be the local HTTP status (100-599), or null when there was no answer")
    duration_ms = fields.get("duration_ms")
    if type(duration_ms) is not int or not 0 <= duration_ms <= 86_400_000:
        raise InvalidInput("duration_ms", "must be the local request's duration in whole milliseconds")
    texts = {}
    for name in ("response_body", "error"):
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(name, "must be a string or null")
        texts[name] = None if value is None else value[:MAX_RESULT_TEXT]
    if status_code is None and not texts["error"]:
        raise InvalidInput("error", "must say why there was no answer when status_code is null")
    return LocalAnswer(status_code, duration_ms, texts["response_body"], texts["error"])


routes = [
    Route("/api/v1/listen", open_stream, methods=["GET"]),
    Route("/api/v1/listen/{id}/results", report_result, methods=["POST"]),
]
