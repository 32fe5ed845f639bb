"""Dashboard page for the tenant's API keys: create (shown once), list by prefix and last
four characters with who made each and when it was last used, revoke (revoked keys fold
away below the active ones).

Portal sessions never reach it: a customer given a portal link manages webhooks only.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.rules.errors import Forbidden
from app.services import api_keys
from app.web.templating import flash, is_htmx, render, toast
from app.web.viewer import Viewer, viewer


async def _key_manager(request: Request) -> Viewer:
    who = await viewer(request)
    if who.is_portal:
        raise Forbidden("API keys are not available in the customer portal.")
    return who


async def _page(request: Request, who: Viewer, new_key: api_keys.NewKey | None = None, status_code: int = 200) -> Response:
    keys = await run_in_threadpool(api_keys.list_keys, who.tenant.id, who.is_admin)
    context = {"viewer": who, "nav": "keys", "keys": keys, "new_key": new_key, "now": request.app.state.clock()}
    return render(request, "keys/list.html", context, partial="keys/_keys.html", status_code=status_code)


async def list_page(request: Request) -> Response:
    return await _page(request, await _key_manager(request))


async def create(request: Request) -> Response:
    """The key is in this one response only: no redirect, so a reload cannot show it again."""
    who = await _key_manager(request)
    form = await request.form()
    name = str(form.get("name", "")).strip()[:100]
    new_key = await run_in_threadpool(api_keys.create_api_key, who.tenant, request.app.state.clock(), name,
                                      created_by=who.name)
    return await _page(request, who, new_key, status_code=201)


async def revoke(request: Request) -> Response:
    who = await _key_manager(request)
    key = await run_in_threadpool(
        api_keys.revoke_key, request.path_params["id"], who.tenant.id, who.is_admin, request.app.state.clock()
    )
    message = f"Key {key.hint} revoked: requests using it now get 401."
    if is_htmx(request):
        keys_page = await _page(request, who)
        keys_page.headers.update(toast(message))
        return keys_page
    flash(request, message)
    return RedirectResponse("/api-keys", status_code=303)


routes = [
    Route("/api-keys", list_page, methods=["GET"]),
    Route("/api-keys", create, methods=["POST"]),
    Route("/api-keys/{id}/revoke", revoke, methods=["POST"]),
]
