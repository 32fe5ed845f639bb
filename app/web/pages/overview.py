"""The Overview: the dashboard's landing page once a tenant has webhooks (`/` goes here,
app/web/pages/signin.py `home`). What it shows is app/services/overview.py's; this only
picks the window and renders.

Portal viewers get it too, for the one tenant their link opened, like every other page
they see: their scope is that tenant's webhooks and deliveries, which is all it shows.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rules.errors import InvalidInput
from app.services import overview
from app.web.templating import render
from app.web.viewer import viewer

DEFAULT_PERIOD = "24h"
PERIOD_LABELS = {"24h": "Last 24 hours", "7d": "Last 7 days"}


async def overview_page(request: Request) -> Response:
    who = await viewer(request)
    period = request.query_params.get("period", DEFAULT_PERIOD)
    try:
        numbers = await run_in_threadpool(overview.tenant_overview, who.tenant.id, request.app.state.clock(), period,
                                          request.app.state.settings)
    except InvalidInput as exc:
        return Response(exc.message, status_code=422)
    context = {"viewer": who, "nav": "overview", "overview": numbers, "periods": PERIOD_LABELS,
               "now": request.app.state.clock()}
    return render(request, "overview/page.html", context)


routes = [Route("/overview", overview_page, methods=["GET"])]
