"""Dashboard pages of the event log: the tenant's events, newest first, searched by id,
type, time range and a condition on their data (GET /events), and one event's payload and
fan-out (GET /events/{id}).

Both read through app/services/event_log.py, the service of GET /api/v1/events, so the
page and the API find the same events, with the same `where` language (app/rules/filter_text.py,
docs/filters.md) and the same cursors (app/services/log_positions.py). A mistake in the
search is the service's InvalidInput, shown at the field it names. Every viewer, a portal
one too, reads the events of the tenant they act for, as on the delivery pages.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.rules.errors import InvalidInput
from app.services import catalog, event_log
from app.services.log_positions import Page
from app.storage.models import DELIVERING, DELIVERY_STATUSES, PENDING
from app.web.inputs import chosen_filters
from app.web.templating import is_htmx, render
from app.web.viewer import viewer

PAGE_SIZE = 25

# The search form's fields, named as event_query names them; `where` is one condition.
FILTERS = ("id", "type", "since", "until", "where")


async def list_page(request: Request) -> Response:
    who = await viewer(request)
    params = request.query_params
    chosen = chosen_filters(params, FILTERS)
    before = params.get("before") or None
    errors: dict[str, str] = {}
    try:
        query = event_log.event_query(**{**chosen, "where": [chosen["where"]] if "where" in chosen else None},
                                      limit=PAGE_SIZE, before=before)
    except InvalidInput as exc:
        errors[exc.field if exc.field in FILTERS else "form"] = exc.message.removeprefix(f"{exc.field}: ")
        query = None

    def page() -> tuple[Page, dict]:
        found = event_log.list_events(who.tenant, query) if query else Page([], None)
        return found, event_log.delivery_summary(found.items)

    found, summary = await run_in_threadpool(page)
    if is_htmx(request):
        fragment = "events/_more.html" if before and not errors else "events/_search.html"
    else:
        fragment = None
    next_url = f"/events?{urlencode({**chosen, 'before': found.next_cursor})}" if found.next_cursor else None
    context = {
        "viewer": who, "nav": "events", "events": found.items, "summary": summary, "filters": chosen, "errors": errors,
        "filtering": bool(chosen), "next_url": next_url, "now": request.app.state.clock(),
        "statuses": DELIVERY_STATUSES,
        "event_types": await run_in_threadpool(catalog.list_event_types, True) if fragment is None else [],
    }
    return render(request, "events/list.html", context, partial=fragment, status_code=422 if errors else 200)


async def detail_page(request: Request) -> Response:
    """An event, its payload and its fan-out. The fan-out alone is what an htmx request gets:
    it refreshes itself while a delivery in it is still to be attempted, and after a resend."""
    who = await viewer(request)
    fan_out = await run_in_threadpool(event_log.fan_out, request.path_params["id"], who.tenant.id)
    context = {
        "viewer": who, "nav": "events", "event": fan_out.event, "deliveries": fan_out.deliveries,
        "live": any(d.status in (PENDING, DELIVERING) for d in fan_out.deliveries),
        "now": request.app.state.clock(),
    }
    return render(request, "events/detail.html", context, partial="events/_fan_out.html")


routes = [
    Route("/events", list_page, methods=["GET"]),
    Route("/events/{id}", detail_page, methods=["GET"]),
]
