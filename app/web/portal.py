"""Portal links: the API that issues them and the URL that turns one into a session."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.rules.errors import Forbidden
from app.services.portal import create_portal_token, open_portal_session
from app.services.sessions import end_session
from app.services.tenants import acting_tenant
from app.web.inputs import api_key
from app.web.serializers import iso
from app.web.sessions import PORTAL, session_jar


async def create_link(request: Request) -> Response:
    """Admin keys only: the link grants a tenant's webhook settings to whoever opens it."""
    key = await api_key(request)
    if not key.is_admin:
        raise Forbidden("only an admin API key can create portal links")
    settings, now = request.app.state.settings, request.app.state.clock()
    tenant = acting_tenant(key, request.path_params["tenant"])
    token, expires_at = await run_in_threadpool(create_portal_token, tenant, now, settings.portal_link_ttl)
    url = str(request.url_for("open_portal", token=token))
    return JSONResponse({"url": url, "expires_at": iso(expires_at)}, status_code=201)


async def open_portal(request: Request) -> Response:
    """Sets the portal cookie only: a dashboard session in the same browser stays signed in
    (and keeps being the one its pages use, see app/web/sessions.py)."""
    settings, now, jar = request.app.state.settings, request.app.state.clock(), session_jar(request)
    token = await run_in_threadpool(open_portal_session, request.path_params["token"], now, settings)
    if previous := jar.token(PORTAL):
        await run_in_threadpool(end_session, previous)
    jar.begin(PORTAL, token)
    return RedirectResponse("/webhooks", status_code=303)


routes = [
    Route("/api/v1/tenants/{tenant}/portal-link", create_link, methods=["POST"]),
    Route("/portal/{token}", open_portal, methods=["GET"], name="open_portal"),
]
