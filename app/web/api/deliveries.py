"""JSON API v1: read a webhook's delivery log, one delivery with its attempts, resend.

Handlers only parse, authorise and render; database work runs in the thread pool.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rules.errors import InvalidInput
from app.services import deliveries
from app.web.inputs import api_key, scope_of
from app.web.serializers import JSONResponse, delivery_detail_json, delivery_json
from app.web.wakeup import wake_sender


async def list_deliveries(request: Request) -> Response:
    key = await api_key(request)
    params = request.query_params
    try:
        limit = int(params.get("limit", 50))
    except ValueError:
        raise InvalidInput("limit", "must be an integer") from None

    page = await run_in_threadpool(
        deliveries.webhook_log, request.path_params["id"], scope_of(key), params.get("status"), params.get("event_type"),
        limit, params.get("before"),
    )
    return JSONResponse({"data": [delivery_json(d) for d in page.items], "next_cursor": page.next_cursor})


async def get_delivery(request: Request) -> Response:
    key = await api_key(request)
    delivery, attempts, body = await run_in_threadpool(
        deliveries.delivery_as_sent, request.path_params["id"], scope_of(key), request.app.state.settings)
    return JSONResponse(delivery_detail_json(delivery, attempts, body))


async def resend_delivery(request: Request) -> Response:
    key = await api_key(request)
    clock = request.app.state.clock
    delivery = await run_in_threadpool(deliveries.resend_delivery, request.path_params["id"], scope_of(key), clock())
    wake_sender(request)
    return JSONResponse(delivery_json(delivery), status_code=202)


routes = [
    Route("/api/v1/webhooks/{id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/v1/deliveries/{id}", get_delivery, methods=["GET"]),
    Route("/api/v1/deliveries/{id}/resend", resend_delivery, methods=["POST"]),
]
