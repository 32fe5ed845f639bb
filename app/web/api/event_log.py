"""JSON API v1: read the event log (GET /api/v1/events) and one event's fan-out.

Kept apart from app/web/api/events.py, which accepts events: reading has other limits
(no emit rate), other inputs (query parameters) and its own service (app/services/event_log.py).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.services import event_log, tenants
from app.web.inputs import api_key, scope_of
from app.web.serializers import JSONResponse, event_json, fan_out_json


async def list_events(request: Request) -> Response:
    key = await api_key(request)
    params = request.query_params
    query = event_log.event_query(type=params.get("type"), since=params.get("since"), until=params.get("until"),
                                  where=params.getlist("where"), limit=params.get("limit", 50),
                                  before=params.get("before"))

    def page():
        return event_log.list_events(tenants.reading_tenant(key, params.get("tenant")), query)

    found = await run_in_threadpool(page)
    return JSONResponse({"data": [event_json(e) for e in found.items], "next_cursor": found.next_cursor})


async def event_deliveries(request: Request) -> Response:
    key = await api_key(request)
    fan_out = await run_in_threadpool(event_log.fan_out, request.path_params["id"], scope_of(key))
    return JSONResponse({"event": event_json(fan_out.event), "data": [fan_out_json(d) for d in fan_out.deliveries]})


routes = [
    Route("/api/v1/events", list_events, methods=["GET"]),
    Route("/api/v1/events/{id}/deliveries", event_deliveries, methods=["GET"]),
]
