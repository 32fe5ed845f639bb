"""Dashboard pages of the request inspector: create a test endpoint, watch what arrives.

The endpoint's page polls its request list every 2 s (the `_requests.html` fragment, as
the delivery log's live pages do) and says for each request which of the tenant's
webhooks signed it. "Create a webhook pointing here" and "Send test" close the loop for a
new user: a signed delivery arrives and shows "verified". Webhooks refuse loopback URLs
outside dev mode unless allow_private_networks lets them (app/rules/webhook_urls.py): when
the capture URL is one a webhook may not have, the page says why and to set `public_url`,
from which the capture URL is built. Deleting asks first (`delete_page`, in the dialog).
Portal sessions never reach it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.rules.errors import Conflict, Forbidden, InvalidInput
from app.services import inspector, trial_sends, webhooks
from app.web.templating import flash, render
from app.web.viewer import Viewer, viewer
from app.web.wakeup import wake_sender


async def _inspector_user(request: Request) -> Viewer:
    who = await viewer(request)
    if who.is_portal:
        raise Forbidden("The request inspector is not available in the customer portal.")
    return who


def capture_url(request: Request, token: str) -> str:
    base = request.app.state.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/inspect/{token}"


async def list_page(request: Request) -> Response:
    who = await _inspector_user(request)
    endpoints = await run_in_threadpool(inspector.list_endpoints, who.tenant.id, request.app.state.clock())
    context = {"viewer": who, "nav": "inspector", "endpoints": endpoints,
               "urls": {e.id: capture_url(request, e.token) for e in endpoints},
               "max_endpoints": inspector.MAX_ENDPOINTS}
    return render(request, "inspector/list.html", context)


async def create(request: Request) -> Response:
    who = await _inspector_user(request)
    form = await request.form()
    try:
        endpoint = await run_in_threadpool(inspector.new_endpoint, who.tenant, str(form.get("name", "")),
                                           request.app.state.clock())
    except Conflict as exc:
        flash(request, exc.message.capitalize() + ".", "error")
        return RedirectResponse("/inspector", status_code=303)
    return RedirectResponse(f"/inspector/{endpoint.id}", status_code=303)


def _pointing_here(endpoint, url: str) -> list:
    return [w for w in webhooks.list_webhooks(endpoint.tenant_id) if w.url == url]


def _shown(endpoint, url: str) -> dict:
    return {"endpoint": endpoint, "received": inspector.received_requests(endpoint),
            "pointing_here": _pointing_here(endpoint, url)}


def _to_delete(endpoint, url: str) -> dict:
    return {"endpoint": endpoint, "received_count": inspector.request_count(endpoint),
            "pointing_here": _pointing_here(endpoint, url)}


async def endpoint_page(request: Request) -> Response:
    """The full page, or (htmx, every 2 s) the request list alone."""
    who = await _inspector_user(request)
    settings, now = request.app.state.settings, request.app.state.clock()
    endpoint = await run_in_threadpool(inspector.get_endpoint, request.path_params["id"], who.tenant.id, now)
    url = capture_url(request, endpoint.token)
    loaded = await run_in_threadpool(_shown, endpoint, url)
    context = {"viewer": who, "nav": "inspector", "url": url, "now": now,
               "webhook_refusal": inspector.webhook_refusal(url, settings), **loaded}
    return render(request, "inspector/endpoint.html", context, partial="inspector/_requests.html")


async def delete_page(request: Request) -> Response:
    """The confirmation: in the dialog for htmx, a page of its own without JavaScript."""
    who = await _inspector_user(request)
    endpoint = await run_in_threadpool(inspector.get_endpoint, request.path_params["id"], who.tenant.id,
                                       request.app.state.clock())
    loaded = await run_in_threadpool(_to_delete, endpoint, capture_url(request, endpoint.token))
    return render(request, "inspector/delete.html", {"viewer": who, "nav": "inspector", **loaded},
                  partial="inspector/_delete.html")


async def delete(request: Request) -> Response:
    who = await _inspector_user(request)
    await run_in_threadpool(inspector.delete_endpoint, request.path_params["id"], who.tenant.id,
                            request.app.state.clock())
    flash(request, "Test endpoint deleted: its URL now answers 404.")
    return RedirectResponse("/inspector", status_code=303)


async def create_webhook(request: Request) -> Response:
    """A webhook for every event whose URL is this endpoint's capture URL."""
    who = await _inspector_user(request)
    settings, now = request.app.state.settings, request.app.state.clock()
    endpoint = await run_in_threadpool(inspector.get_endpoint, request.path_params["id"], who.tenant.id, now)
    fields = {"name": f"Inspector: {endpoint.name}"[:200], "url": capture_url(request, endpoint.token)}
    try:
        await run_in_threadpool(webhooks.create_webhook, who.tenant, fields, settings, now)
    except InvalidInput as exc:
        flash(request, f"The webhook was not created: {exc.message}. Set public_url to this server's public "
                       "address, or run it with --dev to send to loopback.", "error")
    else:
        flash(request, "Webhook created: Send test to watch a signed delivery arrive here.")
    return RedirectResponse(f"/inspector/{endpoint.id}", status_code=303)


async def send_test(request: Request) -> Response:
    who = await _inspector_user(request)
    settings, now = request.app.state.settings, request.app.state.clock()
    endpoint = await run_in_threadpool(inspector.get_endpoint, request.path_params["id"], who.tenant.id, now)
    form = await request.form()
    try:
        await run_in_threadpool(trial_sends.send_test_event, str(form.get("webhook_id", "")), who.tenant.id,
                                settings, now)
    except Conflict as exc:
        flash(request, exc.message.capitalize() + ".", "error")
    else:
        wake_sender(request)
        flash(request, "Test event queued: it shows up below in a moment.")
    return RedirectResponse(f"/inspector/{endpoint.id}", status_code=303)


routes = [
    Route("/inspector", list_page, methods=["GET"]),
    Route("/inspector", create, methods=["POST"]),
    Route("/inspector/{id}", endpoint_page, methods=["GET"]),
    Route("/inspector/{id}/delete", delete_page, methods=["GET"]),
    Route("/inspector/{id}/delete", delete, methods=["POST"]),
    Route("/inspector/{id}/webhook", create_webhook, methods=["POST"]),
    Route("/inspector/{id}/send-test", send_test, methods=["POST"]),
]
