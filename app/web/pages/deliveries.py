"""Dashboard pages for one webhook's delivery log, a delivery's attempts, resend, replay,
recover and stats.

The log is shown in pages, each a <tbody> bounded by cursors (a delivery's place in the
log, see services/deliveries), so "Load more" can
append the next page and each page can refresh itself: every 2 s while it shows a
delivery that is still pending or being sent (and no longer once none is, so an open tab
does not poll forever), and whenever a resend fires `deliveriesChanged`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.config import Settings
from app.rules import durations
from app.rules.errors import Conflict, InvalidInput
from app.services import catalog, deliveries, replay, retention, stats, webhooks
from app.storage.models import DELIVERING, DELIVERY_STATUSES, PENDING
from app.web import charts
from app.web.inputs import chosen_filters
from app.web.templating import flash, is_htmx, render, toast
from app.web.viewer import viewer
from app.web.wakeup import wake_sender

PAGE_SIZE = 25
RECOVER_DEFAULT_WINDOW = timedelta(hours=24)


def _fragment(request: Request, before: str | None, through: str | None) -> str | None:
    """Which part of the log an htmx request wants: a page refreshing itself, the next
    page for "Load more", or the whole list (filters)."""
    if not is_htmx(request):
        return None
    if through:
        return "deliveries/_page.html"
    return "deliveries/_more.html" if before else "deliveries/_list.html"


# The log's filters as the form names them (see services/deliveries.LogFilter).
FILTERS = ("status", "event_type", "search", "since", "until")


async def log_page(request: Request) -> Response:
    who = await viewer(request)
    params = request.query_params
    chosen = chosen_filters(params, FILTERS)
    before = params.get("before") or None
    through = params.get("through") or None
    fragment = _fragment(request, before, through)

    refresh = through if fragment == "deliveries/_page.html" else None
    try:
        filters = deliveries.LogFilter.from_text(**chosen)
        log = await run_in_threadpool(
            deliveries.log_view, request.path_params["id"], who.tenant.id, PAGE_SIZE, before, refresh, filters
        )
    except InvalidInput as exc:
        return Response(exc.message, status_code=422)
    webhook, rows = log.webhook, log.rows
    # What the full page alone shows (fragments keep the form and panel they were in): the
    # filter's choices, and "Recover failed deliveries" once there is something to recover.
    event_types = await run_in_threadpool(catalog.list_event_types, True) if fragment is None else []
    recoverable = fragment is None and await run_in_threadpool(deliveries.has_failed_deliveries, webhook)
    base = f"/webhooks/{webhook.id}/deliveries"
    if fragment != "deliveries/_page.html":  # a refresh keeps the bounds its page started with
        through = deliveries.Position.of(rows[-1]).cursor if rows else None
    context = {
        "viewer": who, "nav": "webhooks", "tab": "deliveries", "webhook": webhook,
        "deliveries": rows, "last_attempts": log.last_attempts, "filters": chosen, "filtering": filters.is_set,
        "log_url": base, "statuses": DELIVERY_STATUSES, "event_types": event_types, "recoverable": recoverable,
        "now": request.app.state.clock(),
        "page_id": f"delivery-page-{before or 'newest'}",
        "refresh_url": f"{base}?{urlencode({**chosen, **({'before': before} if before else {}), 'through': through})}",
        "next_url": f"{base}?{urlencode({**chosen, 'before': log.next_cursor})}" if log.next_cursor else None,
        "poll": any(d.status in (PENDING, DELIVERING) for d in rows),
        "since": _since_value(request.app.state.clock() - RECOVER_DEFAULT_WINDOW), "errors": {},
        "retention_note": retention_note(request.app.state.settings, request.app.state.clock()),
    }
    return render(request, "deliveries/log.html", context, partial=fragment)


def retention_note(settings: Settings, now: datetime) -> str:
    """What the log and the stats say is kept, e.g. "Succeeded deliveries are kept 30 days,
    failed ones 90 days; next purge 03:17 UTC"."""
    note = (f"Succeeded deliveries are kept {durations.in_words(settings.retention_succeeded)}, "
            f"failed ones {durations.in_words(settings.retention_failed)}")
    at = retention.next_purge_at(settings, now)
    if at is None:
        return note + "."
    when = f"{at:%H:%M} UTC" if at - now < timedelta(days=1) else f"{at:%Y-%m-%d %H:%M} UTC"
    return f"{note}; next purge {when}."


def _since_value(when) -> str:
    """The value a datetime-local input takes; the form labels it UTC."""
    return when.strftime("%Y-%m-%dT%H:%M")


async def detail_page(request: Request) -> Response:
    who = await viewer(request)
    return await _render_detail(request, who, request.path_params["id"])


async def _render_detail(request: Request, who, delivery_id: str, status_code: int = 200, headers: dict | None = None,
                         replay_error: str | None = None) -> Response:
    """The detail with what its forms need: its attempts, and the webhooks it can be replayed to.
    `live` while an attempt is still to come: the detail then refreshes itself like the log."""

    settings = request.app.state.settings

    def load():
        delivery, attempts, others = replay.delivery_detail(delivery_id, who.tenant.id)
        return delivery, attempts, others, deliveries.sent_body(delivery, settings)

    delivery, attempts, others, body = await run_in_threadpool(load)
    context = {
        "viewer": who, "nav": "webhooks", "delivery": delivery, "attempts": attempts, "replay_targets": others,
        "body": body, "live": delivery.status in (PENDING, DELIVERING),
        "replay_error": replay_error, "now": request.app.state.clock(),
    }
    return render(request, "deliveries/detail.html", context, partial="deliveries/_detail.html",
                  status_code=status_code, headers=headers)


def _refused(request: Request, exc: Conflict, delivery_id: str) -> Response:
    """An attempt is in flight: a toast for htmx, a flash on the detail for a plain form."""
    if is_htmx(request):
        return Response(status_code=204, headers=toast(exc.message.capitalize(), "error"))
    flash(request, exc.message.capitalize(), "error")
    return RedirectResponse(f"/deliveries/{delivery_id}", status_code=303)


async def resend(request: Request) -> Response:
    """One more attempt now, with the same webhook-id; a scheduled retry is replaced.

    htmx gets the detail again (now pending) and a toast, and `deliveriesChanged` makes the
    log behind the dialog refresh; a plain form gets a flash and a redirect to the detail.
    """
    who = await viewer(request)
    delivery_id = request.path_params["id"]
    try:
        await run_in_threadpool(deliveries.resend_delivery, delivery_id, who.tenant.id, request.app.state.clock())
    except Conflict as exc:
        return _refused(request, exc, delivery_id)
    wake_sender(request)
    message = "Resend queued: the attempt starts in a moment."
    if not is_htmx(request):
        flash(request, message)
        return RedirectResponse(f"/deliveries/{delivery_id}", status_code=303)
    return await _render_detail(request, who, delivery_id, headers=toast(message, "success", "deliveriesChanged"))


async def replay_to_webhook(request: Request) -> Response:
    """Send this delivery's event to another webhook; the answer is that new delivery's detail."""
    who = await viewer(request)
    delivery_id = request.path_params["id"]
    form = await request.form()

    try:
        replayed = await run_in_threadpool(
            replay.replay_delivery, delivery_id, form.get("webhook_id"), who.tenant.id, request.app.state.clock()
        )
    except InvalidInput as exc:
        return await _render_detail(request, who, delivery_id, status_code=422, replay_error=exc.message.split(": ", 1)[-1])
    except Conflict as exc:
        return _refused(request, exc, delivery_id)
    wake_sender(request)
    message = f"Replay to {replayed.webhook.name} queued: the attempt starts in a moment."
    if not is_htmx(request):
        flash(request, message)
        return RedirectResponse(f"/deliveries/{replayed.id}", status_code=303)
    return await _render_detail(request, who, replayed.id, headers=toast(message, "success", "deliveriesChanged"))


async def recover(request: Request) -> Response:
    """Queue every failed delivery since the chosen time; the answer is the progress panel
    (htmx) or the recovery's own page (plain form), both of which follow it to the end."""
    who = await viewer(request)
    webhook_id = request.path_params["id"]
    form = await request.form()
    now = request.app.state.clock()

    try:
        recovery = await run_in_threadpool(replay.recover_failed, webhook_id, who.tenant.id, form.get("since"), now)
    except InvalidInput as exc:
        webhook = await run_in_threadpool(webhooks.get_webhook, webhook_id, who.tenant.id)
        context = {"viewer": who, "nav": "webhooks", "tab": "deliveries", "webhook": webhook, "open": True,
                   "since": form.get("since", ""), "errors": {exc.field: exc.message.split(": ", 1)[-1]}}
        return render(request, "deliveries/recover.html", context, partial="deliveries/_recover.html", status_code=422)
    if recovery.total:
        wake_sender(request)
    if not is_htmx(request):
        return RedirectResponse(f"/recoveries/{recovery.id}", status_code=303)
    progress = await run_in_threadpool(replay.recovery_progress, recovery.id, who.tenant.id)
    message = f"Recovering {recovery.total} failed deliveries." if recovery.total else "No failed deliveries to recover."
    return render(request, "deliveries/recovery.html", _recovery_context(who, progress),
                  partial="deliveries/_recover_progress.html", headers=toast(message, "success", "deliveriesChanged"))


async def recovery_page(request: Request) -> Response:
    who = await viewer(request)
    progress = await run_in_threadpool(replay.recovery_progress, request.path_params["id"], who.tenant.id)
    return render(request, "deliveries/recovery.html", _recovery_context(who, progress),
                  partial="deliveries/_recover_progress.html")


def _recovery_context(who, progress: replay.Progress) -> dict:
    return {"viewer": who, "nav": "webhooks", "tab": "deliveries", "webhook": progress.recovery.webhook,
            "progress": progress}


async def stats_page(request: Request) -> Response:
    who = await viewer(request)
    now = request.app.state.clock()

    webhook, numbers = await run_in_threadpool(stats.stats_tab, request.path_params["id"], who.tenant.id, now)
    context = {
        "viewer": who, "nav": "webhooks", "tab": "stats", "webhook": webhook, "stats": numbers,
        "chart": charts.chart(numbers.hours), "chart_height": charts.CHART_HEIGHT,
        "chart_width": charts.CHART_WIDTH, "bar_width": charts.BAR_WIDTH,
        "retention_note": retention_note(request.app.state.settings, now),
    }
    return render(request, "webhooks/stats.html", context)


routes = [
    Route("/webhooks/{id}/deliveries", log_page, methods=["GET"]),
    Route("/webhooks/{id}/stats", stats_page, methods=["GET"]),
    Route("/deliveries/{id}", detail_page, methods=["GET"]),
    Route("/deliveries/{id}/resend", resend, methods=["POST"]),
    Route("/deliveries/{id}/replay", replay_to_webhook, methods=["POST"]),
    Route("/webhooks/{id}/recover", recover, methods=["POST"]),
    Route("/recoveries/{id}", recovery_page, methods=["GET"]),
]
