"""JSON API v1: delivery statistics of one webhook or of a tenant over a period, the numbers
of the dashboard's Stats tab from the same service function (app/services/stats.py)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.services import stats, tenants
from app.services.stats import PeriodStats
from app.web.inputs import api_key, scope_of
from app.web.serializers import JSONResponse, iso

DEFAULT_PERIOD = "24h"


def period_stats_json(period: str, numbers: PeriodStats) -> dict:
    window = numbers.window
    return {
        "period": period,
        "counts": {"succeeded": window.succeeded, "failed": window.failed, "pending": window.pending,
                   "cancelled": window.cancelled},
        "success_rate": window.success_rate,
        "attempts": window.attempts,
        "latency_ms": {"p50": window.p50_ms, "p95": window.p95_ms, "p99": window.p99_ms},
        "hours": [{"start": iso(h.start), "succeeded": h.succeeded, "failed": h.failed, "pending": h.pending,
                   "cancelled": h.cancelled} for h in numbers.hours],
    }


async def webhook_stats(request: Request) -> Response:
    key = await api_key(request)
    period = request.query_params.get("period", DEFAULT_PERIOD)
    numbers = await run_in_threadpool(
        stats.webhook_period_stats, request.path_params["id"], scope_of(key), request.app.state.clock(), period
    )
    return JSONResponse(period_stats_json(period, numbers))


async def tenant_stats(request: Request) -> Response:
    key = await api_key(request)
    period, slug = request.query_params.get("period", DEFAULT_PERIOD), request.query_params.get("tenant")
    now = request.app.state.clock()

    def numbers_of_tenant():
        return stats.tenant_period_stats(tenants.reading_tenant(key, slug), now, period)

    numbers = await run_in_threadpool(numbers_of_tenant)
    return JSONResponse(period_stats_json(period, numbers))


routes = [
    Route("/api/v1/webhooks/{id}/stats", webhook_stats, methods=["GET"]),
    Route("/api/v1/stats", tenant_stats, methods=["GET"]),
]
