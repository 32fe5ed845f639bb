"""GET /metrics for Prometheus: off (404) unless metrics_token is set, then only for it.

The token is a separate secret from API keys: a scraper's config should not hold a key
that can emit events or read delivery logs.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.config import Settings
from app.delivery.metrics import Metrics


def bearer_matches(authorization: str | None, token: str) -> bool:
    """Constant-time, so response timing does not reveal how much of a guess was right."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if not token:
        raise HTTPException(404)
    if not bearer_matches(request.headers.get("authorization"), token):
        return PlainTextResponse(
            "Send the metrics_token as Authorization: Bearer <token>.\n", status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body = await run_in_threadpool(request.app.state.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics, methods=["GET"])]


def metrics_app(settings: Settings, process_metrics: Metrics) -> Starlette:
    """What `hookline worker --metrics-port` serves: this route alone."""
    app = Starlette(routes=routes)
    app.state.settings = settings
    app.state.metrics = process_metrics
    return app
