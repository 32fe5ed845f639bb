"""JSON API v1: manage webhooks (create, read, update, delete, rotate the secret, test).

Handlers only parse, authorise and render. Database work runs in the thread pool so a
slow disk never stalls the event loop that is also sending webhooks.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.services import deliveries, tenants, trial_sends, webhooks
from app.services.catalog import TEST_EVENT_TYPE
from app.web.inputs import api_key, read_fields, scope_of
from app.web.serializers import JSONResponse, attempt_json, delivery_json, iso, public_key_of, webhook_json
from app.web.wakeup import wake_sender


def _state(request: Request):
    return request.app.state


class WebhookCollection(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        key = await api_key(request)
        rows = await run_in_threadpool(webhooks.list_webhooks_for_key, key, request.query_params.get("tenant"))
        return JSONResponse({"data": [webhook_json(w) for w in rows]})

    async def post(self, request: Request) -> Response:
        key = await api_key(request)
        settings, clock = _state(request).settings, _state(request).clock
        fields = await read_fields(request, settings.max_payload_bytes)
        tenant = tenants.acting_tenant(key, fields.get("tenant"))
        created = await run_in_threadpool(webhooks.create_webhook, tenant, fields, settings, clock())
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
    """The new secret (the caller's own, or generated), shown this once, and the new
    ed25519 public key; the old ones sign too until the grace ends."""
    key = await api_key(request)
    settings, clock = _state(request).settings, _state(request).clock
    fields = await read_fields(request, settings.max_payload_bytes, optional=True, allowed={"grace_seconds", "secret"})
    rotated = await run_in_threadpool(
        webhooks.rotate_secret, request.path_params["id"], scope_of(key), settings, clock(), fields.get("grace_seconds"),
        fields.get("secret"),
    )
    expires_at = iso(rotated.webhook.previous_secret_expires_at)
    return JSONResponse({"secret": rotated.secret, "public_key": public_key_of(rotated.webhook),
                         "previous_secret_expires_at": expires_at})


async def send_test_event(request: Request) -> Response:
    """Send one event to this webhook alone, then report how the first attempt went."""
    key = await api_key(request)
    settings, clock = _state(request).settings, _state(request).clock
    fields = await read_fields(request, settings.max_payload_bytes, optional=True, allowed={"type", "data"})
    delivery_id = await run_in_threadpool(
        trial_sends.send_test_event, request.path_params["id"], scope_of(key), settings, clock(),
        fields.get("type", TEST_EVENT_TYPE), fields.get("data"),
    )
    wake_sender(request)
    attempt = await trial_sends.first_attempt(delivery_id, settings.request_timeout + 5)
    delivery = await run_in_threadpool(deliveries.get_delivery, delivery_id, scope_of(key))
    body = {"delivery": delivery_json(delivery), "attempt": attempt_json(attempt) if attempt else None}
    return JSONResponse(body, status_code=200 if attempt else 202)


routes = [
    Route("/api/v1/webhooks", WebhookCollection),
    Route("/api/v1/webhooks/{id}", WebhookResource),
    Route("/api/v1/webhooks/{id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/api/v1/webhooks/{id}/test", send_test_event, methods=["POST"]),
]
