"""JSON API v1 for the event-type catalog.

The catalog is shared by every tenant (one list of what may be emitted), so any key may
read it and only an admin key may change it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rules.errors import Forbidden, InvalidInput
from app.services import catalog
from app.storage.models import ApiKey
from app.web.inputs import api_key, read_fields
from app.web.serializers import JSONResponse, event_type_json

FLAGS = {"true": True, "1": True, "false": False, "0": False}


async def _admin_key(request: Request) -> ApiKey:
    key = await api_key(request)
    if not key.is_admin:
        raise Forbidden("event types are shared by every tenant: only an admin key can change them")
    return key


class EventTypeCollection(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        await api_key(request)
        flag = request.query_params.get("include_archived", "false").lower()
        if flag not in FLAGS:
            raise InvalidInput("include_archived", "must be true or false")
        rows = await run_in_threadpool(catalog.list_event_types, FLAGS[flag])
        return JSONResponse({"data": [event_type_json(t) for t in rows]})

    async def post(self, request: Request) -> Response:
        await _admin_key(request)
        state = request.app.state
        fields = await read_fields(request, state.settings.max_payload_bytes)
        created = await run_in_threadpool(catalog.create_event_type, fields, state.clock())
        return JSONResponse(event_type_json(created), status_code=201,
                            headers={"Location": f"/api/v1/event-types/{created.name}"})


class EventTypeResource(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        await api_key(request)
        event_type = await run_in_threadpool(catalog.get_event_type, request.path_params["name"])
        return JSONResponse(event_type_json(event_type))

    async def patch(self, request: Request) -> Response:
        await _admin_key(request)
        state = request.app.state
        fields = await read_fields(request, state.settings.max_payload_bytes)
        updated = await run_in_threadpool(catalog.update_event_type, request.path_params["name"], fields, state.clock())
        return JSONResponse(event_type_json(updated))


routes = [
    Route("/api/v1/event-types", EventTypeCollection),
    Route("/api/v1/event-types/{name}", EventTypeResource),
]
