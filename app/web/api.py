"""JSON API v1: emit events, manage webhooks, read delivery logs.

Handlers only parse, authorise and render. Database work runs in the thread pool so a
slow disk never stalls the event loop that is also sending webhooks.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import InvalidInput
from app.models import ApiKey, Tenant
from app.services import deliveries, events, tenants, test_events, webhooks
from app.services.catalog import TEST_EVENT_TYPE
from app.web.inputs import FORM_TYPE, api_key, client_ip, content_type, parse_json, read_fields, scope_of, within_rate
from app.web.sender import wake_sender
from app.web.serializers import JSONResponse, attempt_json, delivery_detail_json, delivery_json, iso, webhook_json

EMIT_FIELDS = {"type", "event", "data", "tenant", "idempotency_key"}


def check_emit_fields(fields: dict) -> None:
    """One event's fields: the body of POST /api/v1/events, or one item of a batch."""
    unknown = sorted(set(fields) - EMIT_FIELDS)
    if unknown:
        raise InvalidInput(unknown[0], f"unknown field (allowed: {', '.join(sorted(EMIT_FIELDS))})")
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


def _state(request: Request):
    return request.app.state


async def emit_event(request: Request) -> Response:
    key = await emitting_key(request)
    spend_emit_tokens(request, key)
    settings = _state(request).settings
    fields = await read_fields(request, settings.max_payload_bytes, allow_form=True)
    check_emit_fields(fields)
    type_name = fields.get("type", fields.get("event"))
    data = fields.get("data", {})
    if content_type(request) == FORM_TYPE:  # form fields are text; `data` holds JSON text
        data = parse_json(data, field="data") if data.strip() else {}
    idempotency_key = request.headers.get("idempotency-key", fields.get("idempotency_key"))

    def emit(now, lookups):
        tenant = tenants.for_write(tenants.acting_tenant(key, fields.get("tenant")), now, lookups.tenants)
        return events.emit_event(tenant, type_name, data, settings, now, idempotency_key=idempotency_key,
                                 lookups=lookups)

    emitted = await _state(request).writer.write(emit)
    _state(request).metrics.event_accepted(emitted)
    if emitted.deliveries and not emitted.replayed:
        wake_sender(request)
    headers = {"Idempotent-Replayed": "true"} if emitted.replayed else None
    return JSONResponse({"id": emitted.event_id, "deliveries": emitted.deliveries}, status_code=202, headers=headers)


class WebhookCollection(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        key = await api_key(request)
        requested = request.query_params.get("tenant")

        def query():
            tenants.refuse_other_tenant(key, requested)
            scope = scope_of(key)
            if requested and key.is_admin:
                tenant = Tenant.get_or_none(Tenant.slug == requested)
                if tenant is None:
                    return []
                scope = tenant.id
            return webhooks.list_webhooks(scope)

        rows = await run_in_threadpool(query)
        return JSONResponse({"data": [webhook_json(w) for w in rows]})

    async def post(self, request: Request) -> Response:
        key = await api_key(request)
        settings, clock = _state(request).settings, _state(request).clock
        fields = await read_fields(request, settings.max_payload_bytes)

        def create():
            now = clock()
            return webhooks.create_webhook(tenants.acting_tenant(key, fields.get("tenant")), fields, settings, now)

        created = await run_in_threadpool(create)
        body = {**webhook_json(created.webhook), "secret": created.secret}
        return JSONResponse(body, status_code=201, headers={"Location": f"/api/v1/webhooks/{created.webhook.id}"})


class WebhookResource(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        key = await api_key(request)
        webhook = await run_in_threadpool(webhooks.get_webhook, request.path_params["id"], scope_of(key))
        return JSONResponse(webhook_json(webhook))

    async def patch(self, request: Request) -> Response:
        key = await api_key(request)
        settings, clock = _state(request).settings, _state(request).clock
        fields = await read_fields(request, settings.max_payload_bytes)
        webhook = await run_in_threadpool(
            webhooks.update_webhook, request.path_params["id"], scope_of(key), fields, settings, clock()
        )
        if fields.get("enabled") is True:
            wake_sender(request)  # deliveries that waited while it was off are due now
        return JSONResponse(webhook_json(webhook))

    async def delete(self, request: Request) -> Response:
        key = await api_key(request)
        await run_in_threadpool(webhooks.delete_webhook, request.path_params["id"], scope_of(key), _state(request).clock())
        return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    """The new secret, shown this once; the old one signs too until the grace ends."""
    key = await api_key(request)
    settings, clock = _state(request).settings, _state(request).clock
    fields = await read_fields(request, settings.max_payload_bytes, optional=True)
    unknown = sorted(set(fields) - {"grace_seconds"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown field (allowed: grace_seconds)")
    rotated = await run_in_threadpool(
        webhooks.rotate_secret, request.path_params["id"], scope_of(key), settings, clock(), fields.get("grace_seconds")
    )
    expires_at = iso(rotated.webhook.previous_secret_expires_at)
    return JSONResponse({"secret": rotated.secret, "previous_secret_expires_at": expires_at})


async def send_test_event(request: Request) -> Response:
    """Send one event to this webhook alone, then report how the first attempt went."""
    key = await api_key(request)
    settings, clock = _state(request).settings, _state(request).clock
    fields = await read_fields(request, settings.max_payload_bytes, optional=True)
    unknown = sorted(set(fields) - {"type", "data"})
    if unknown:
        raise InvalidInput(unknown[0], "unknown field (allowed: type, data)")
    delivery_id = await run_in_threadpool(
        test_events.send_test_event, request.path_params["id"], scope_of(key), settings, clock(),
        fields.get("type", TEST_EVENT_TYPE), fields.get("data"),
    )
    wake_sender(request)
    attempt = await test_events.first_attempt(delivery_id, settings.request_timeout + 5)
    delivery = await run_in_threadpool(deliveries.get_delivery, delivery_id, scope_of(key))
    body = {"delivery": delivery_json(delivery), "attempt": attempt_json(attempt) if attempt else None}
    return JSONResponse(body, status_code=200 if attempt else 202)


async def list_deliveries(request: Request) -> Response:
    key = await api_key(request)
    params = request.query_params
    try:
        limit = int(params.get("limit", 50))
    except ValueError:
        raise InvalidInput("limit", "must be an integer") from None

    def query():
        webhook = webhooks.get_webhook(request.path_params["id"], scope_of(key))
        return deliveries.list_deliveries(
            webhook, status=params.get("status"), event_type=params.get("event_type"), limit=limit, before=params.get("before")
        )

    page = await run_in_threadpool(query)
    return JSONResponse({"data": [delivery_json(d) for d in page.items], "next_cursor": page.next_cursor})


async def get_delivery(request: Request) -> Response:
    key = await api_key(request)

    def query():
        delivery = deliveries.get_delivery(request.path_params["id"], scope_of(key))
        return delivery, deliveries.attempts_of(delivery)

    delivery, attempts = await run_in_threadpool(query)
    return JSONResponse(delivery_detail_json(delivery, attempts))


async def resend_delivery(request: Request) -> Response:
    key = await api_key(request)
    clock = _state(request).clock
    delivery = await run_in_threadpool(deliveries.resend_delivery, request.path_params["id"], scope_of(key), clock())
    wake_sender(request)
    return JSONResponse(delivery_json(delivery), status_code=202)


routes = [
    Route("/api/v1/events", emit_event, methods=["POST"]),
    Route("/api/v1/webhooks", WebhookCollection),
    Route("/api/v1/webhooks/{id}", WebhookResource),
    Route("/api/v1/webhooks/{id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/api/v1/webhooks/{id}/test", send_test_event, methods=["POST"]),
    Route("/api/v1/webhooks/{id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/v1/deliveries/{id}", get_delivery, methods=["GET"]),
    Route("/api/v1/deliveries/{id}/resend", resend_delivery, methods=["POST"]),
]
