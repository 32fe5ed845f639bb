"""Dashboard pages for one webhook's delivery log, a delivery's attempts, resend and stats.

The log's list polls itself every 2 s while it shows a delivery that is still pending or
being sent, and stops once none is, so an open tab does not poll forever.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.errors import Conflict, InvalidInput
from app.models import DELIVERING, DELIVERY_STATUSES, PENDING
from app.services import catalog, deliveries, stats, webhooks
from app.web.templating import flash, is_htmx, render, toast
from app.web.viewer import viewer

PAGE_SIZE = 25


async def log_page(request: Request) -> Response:
    who = await viewer(request)
    params = request.query_params
    filters = {"status": params.get("status") or None, "event_type": params.get("event_type") or None}
    before = params.get("before") or None

    def load():
        webhook = webhooks.get_webhook(request.path_params["id"], who.tenant.id)
        page = deliveries.list_deliveries(webhook, limit=PAGE_SIZE, before=before, **filters)
        last = deliveries.last_attempts([d.id for d in page.items])
        return webhook, page, last, catalog.list_event_types()

    try:
        webhook, page, last, event_types = await run_in_threadpool(load)
    except InvalidInput as exc:
        return Response(exc.message, status_code=422)
    query = urlencode({k: v for k, v in filters.items() if v})
    context = {
        "viewer": who, "nav": "webhooks", "tab": "deliveries", "webhook": webhook,
        "deliveries": page.items, "last_attempts": last, "next_cursor": page.next_cursor,
        "filters": filters, "query": query, "before": before,
        "statuses": DELIVERY_STATUSES, "event_types": event_types,
        # Live updates only on the first page, and only while something may still change.
        "poll": before is None and any(d.status in (PENDING, DELIVERING) for d in page.items),
        "now": request.app.state.clock(),
    }
    return render(request, "deliveries/log.html", context, partial="deliveries/_list.html")


async def detail_page(request: Request) -> Response:
    who = await viewer(request)

    def load():
        delivery = deliveries.get_delivery(request.path_params["id"], who.tenant.id)
        return delivery, deliveries.attempts_of(delivery)

    delivery, attempts = await run_in_threadpool(load)
    context = {"viewer": who, "nav": "webhooks", "delivery": delivery, "attempts": attempts, "now": request.app.state.clock()}
    return render(request, "deliveries/detail.html", context, partial="deliveries/_detail.html")


async def resend(request: Request) -> Response:
    """One more attempt now, with the same webhook-id; a scheduled retry is replaced."""
    who = await viewer(request)
    delivery_id = request.path_params["id"]
    try:
        await run_in_threadpool(deliveries.resend_delivery, delivery_id, who.tenant.id, request.app.state.clock())
    except Conflict as exc:
        message, level = exc.message.capitalize(), "error"
    else:
        message, level = "Resend queued: the attempt starts in a moment.", "success"
        if request.app.state.dispatcher is not None:
            request.app.state.dispatcher.wake()
    if is_htmx(request):
        return Response(status_code=204, headers=toast(message, level, "deliveriesChanged", "closeModal"))
    flash(request, message, level)
    return RedirectResponse(f"/deliveries/{delivery_id}", status_code=303)


async def stats_page(request: Request) -> Response:
    who = await viewer(request)
    now = request.app.state.clock()

    def load():
        webhook = webhooks.get_webhook(request.path_params["id"], who.tenant.id)
        return webhook, stats.webhook_stats(webhook.id, now)

    webhook, numbers = await run_in_threadpool(load)
    context = {
        "viewer": who, "nav": "webhooks", "tab": "stats", "webhook": webhook, "stats": numbers,
        "bars": stats.chart_bars(numbers.hours), "chart_height": stats.CHART_HEIGHT,
        "chart_width": len(numbers.hours) * (stats.BAR_WIDTH + stats.BAR_GAP), "bar_width": stats.BAR_WIDTH,
    }
    return render(request, "webhooks/stats.html", context)


routes = [
    Route("/webhooks/{id}/deliveries", log_page, methods=["GET"]),
    Route("/webhooks/{id}/stats", stats_page, methods=["GET"]),
    Route("/deliveries/{id}", detail_page, methods=["GET"]),
    Route("/deliveries/{id}/resend", resend, methods=["POST"]),
]
