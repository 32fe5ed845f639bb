"""JSON API v1: a tenant's defaults for its webhooks' delivery contracts.

`GET /api/v1/tenants/{tenant}`: admin keys any tenant, a tenant key its own.
`PATCH`: admin keys only; null unsets a default (the installation's applies again).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.services import tenants
from app.web.inputs import api_key, read_fields
from app.web.serializers import JSONResponse, tenant_json


class TenantResource(HTTPEndpoint):
    async def get(self, request: Request) -> Response:
        key = await api_key(request)
        tenant = await run_in_threadpool(tenants.tenant_for_key, key, request.path_params["tenant"])
        return JSONResponse(tenant_json(tenant, request.app.state.settings))

    async def patch(self, request: Request) -> Response:
        key = await api_key(request)
        settings, clock = request.app.state.settings, request.app.state.clock
        fields = await read_fields(request, settings.max_payload_bytes, allowed=set(tenants.DEFAULTS))
        tenant = await run_in_threadpool(
            tenants.update_tenant_defaults, key, request.path_params["tenant"], fields, settings.signatures or None,
            clock()
        )
        return JSONResponse(tenant_json(tenant, settings))


routes = [Route("/api/v1/tenants/{tenant}", TenantResource)]
