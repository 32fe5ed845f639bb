"""Dashboard page for whom Hookline mails when a webhook of the tenant starts failing, is
disabled or recovers, and whether mail is getting out.

The banner reads the mail outbox, not this process's counters: any sending process may
be the one whose SMTP sends fail. Portal sessions never reach it, as with API keys: it
decides where mail about the whole tenant goes.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.rules.errors import Forbidden, InvalidInput
from app.services import notifications
from app.web.inputs import inline_error
from app.web.templating import flash, is_htmx, render, toast
from app.web.viewer import Viewer, viewer

DEFAULT, LISTED = "users", "list"


async def _owner(request: Request) -> Viewer:
    who = await viewer(request)
    if who.is_portal:
        raise Forbidden("Notification settings are not available in the customer portal.")
    return who


async def _page(request: Request, who: Viewer, values: dict | None = None, errors: dict | None = None,
                status_code: int = 200) -> Response:
    current = await run_in_threadpool(notifications.notification_settings, who.tenant.id, request.app.state.settings)
    if values is None:
        values = {"source": DEFAULT if current.chosen is None else LISTED, "addresses": "\n".join(current.chosen or [])}
    context = {"viewer": who, "nav": "notifications", "current": current, "values": values, "errors": errors or {},
               "settings": request.app.state.settings}
    return render(request, "settings/notifications.html", context, partial="settings/_notifications.html",
                  status_code=status_code)


async def settings_page(request: Request) -> Response:
    return await _page(request, await _owner(request))


async def save(request: Request) -> Response:
    who = await _owner(request)
    form = await request.form()
    values = {"source": str(form.get("source", DEFAULT)), "addresses": str(form.get("addresses", ""))}
    listed = [address.strip() for address in re.split(r"[\n,;]", values["addresses"]) if address.strip()]
    chosen = None if values["source"] == DEFAULT else listed
    try:
        await run_in_threadpool(notifications.set_recipients, who.tenant.id, chosen, "addresses")
    except InvalidInput as exc:
        return await _page(request, who, values, inline_error(exc), status_code=422)
    message = "Notification addresses saved."
    if is_htmx(request):
        saved = await _page(request, who)
        saved.headers.update(toast(message))
        return saved
    flash(request, message)
    return RedirectResponse("/settings/notifications", status_code=303)


routes = [
    Route("/settings/notifications", settings_page, methods=["GET"]),
    Route("/settings/notifications", save, methods=["POST"]),
]
