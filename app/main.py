"""The ASGI application: routes, error handlers, and the resources the lifespan owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
import peewee
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app import __version__
from app.config import Settings, parse_rate
from app.delivery.listen_push import ListenHub
from app.delivery.metrics import Metrics
from app.delivery.tracing import Tracing, build_tracing
from app.rules.clock import Clock, system_clock
from app.rules.errors import ServiceError, TooManyRequests, Unauthorized
from app.rules.ratelimit import RateLimiter, retry_after_header
from app.sender import running_sender
from app.services.api_keys import KeyCache
from app.services.events import Lookups
from app.services.listen_sessions import end_expired
from app.services.server_secrets import signing_keys
from app.services.setup import prepare_database
from app.storage.db import database
from app.storage.writer import GroupWriter
from app.web import capture, metrics, portal
from app.web.api import deliveries as api_deliveries, event_types as api_event_types, events as api_events
from app.web.api import event_log as api_event_log, listen as api_listen, openapi, replay as api_replay
from app.web.api import stats as api_stats, tenants as api_tenants
from app.web.api import webhooks as api_webhooks
from app.web.pages import deliveries as pages_deliveries, event_types as pages_event_types, keys as pages_keys
from app.web.pages import inspector as pages_inspector, notifications as pages_notifications, signin
from app.web.pages import events as pages_events, overview as pages_overview, tenants as pages_tenants
from app.web.pages import webhooks as pages_webhooks
from app.web.security import CSRFMiddleware, FormTextMiddleware, HeaderLimitMiddleware, SecurityHeadersMiddleware
from app.web.sessions import SessionMiddleware, cookie_options
from app.web.templating import TEMPLATES_DIR, is_htmx, templates
from app.web.viewer import SignInRequired

log = logging.getLogger("hookline")
DATABASE_RETRY_AFTER = "2"


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    run_sender: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    tracing: Tracing | None = None,
) -> Starlette:
    """`run_sender=False` serves the API and dashboard only (`serve --no-sender`, where
    `worker` processes send, and tests that drive the dispatcher themselves). `tracing`:
    the span exporter (app/delivery/tracing.py), else the one `otlp_endpoint` asks for.

    The database is prepared here, not in the lifespan, because the session middleware
    needs its keys (derived from the encryption keys it configures) when the app is built.
    """
    prepare_database(settings, clock)
    process_metrics = Metrics(clock)
    process_tracing = tracing or build_tracing(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.settings = settings
        app.state.clock = clock
        app.state.metrics = process_metrics
        app.state.dispatcher = None
        app.state.tracing = process_tracing
        app.state.limits = RateLimits(settings)
        app.state.api_keys = KeyCache()
        app.state.writer = GroupWriter(clock, lambda: Lookups(settings))
        app.state.writer.start()
        # Every web process holds the streams of its own listen sessions, with or without a sender.
        app.state.listen_hub = listen_hub = ListenHub(settings, clock, end_expired)
        listen_ticks = asyncio.create_task(listen_hub.run(), name="hookline-listen-sessions")
        try:
            if not run_sender:
                yield
                return
            async with running_sender(settings, clock, process_metrics, app.state.writer, transport,
                                      process_tracing) as dispatcher:
                app.state.dispatcher = dispatcher
                yield
        finally:
            listen_ticks.cancel()
            await asyncio.gather(listen_ticks, return_exceptions=True)
            await listen_hub.close()
            await run_in_threadpool(app.state.writer.stop)  # answers what is queued
            if process_tracing is not None:
                process_tracing.shutdown()  # exports the spans still queued
        database.close()

    middleware = [
        Middleware(SecurityHeadersMiddleware, frame_ancestors=settings.portal_frame_ancestors),
        Middleware(HeaderLimitMiddleware),
        Middleware(SessionMiddleware, keys=signing_keys("session"), cookies=cookie_options(settings)),
        Middleware(CSRFMiddleware),
        Middleware(FormTextMiddleware),
    ]
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/favicon.ico", favicon),
            *metrics.routes,
            *api_events.routes,
            *api_event_log.routes,
            *api_stats.routes,
            *api_webhooks.routes,
            *api_deliveries.routes,
            *api_event_types.routes,
            *api_replay.routes,
            *api_tenants.routes,
            *api_listen.routes,
            *openapi.routes,
            *signin.routes,
            *pages_overview.routes,
            *pages_webhooks.routes,
            *pages_deliveries.routes,
            *pages_events.routes,
            *pages_keys.routes,
            *pages_notifications.routes,
            *pages_event_types.routes,
            *pages_tenants.routes,
            *pages_inspector.routes,
            *capture.routes,
            *portal.routes,
            Mount("/static", StaticFiles(directory=str(TEMPLATES_DIR.parent / "static")), name="static"),
        ],
        middleware=middleware,
        exception_handlers={
            ServiceError: service_error,
            peewee.OperationalError: database_unavailable,
            HTTPException: http_error,
            SignInRequired: sign_in_required,
            Exception: server_error,
        },
        lifespan=lifespan,
    )


class RateLimits:
    """The process's rate limiters (app/rules/ratelimit.py), one per setting."""

    def __init__(self, settings: Settings):
        self.emit_key = RateLimiter(parse_rate("emit_rate_limit", settings.emit_rate_limit))
        self.emit_ip = RateLimiter(parse_rate("emit_ip_rate_limit", settings.emit_ip_rate_limit))
        self.login_user = RateLimiter(parse_rate("login_rate_limit", settings.login_rate_limit))
        self.login_ip = RateLimiter(parse_rate("login_ip_rate_limit", settings.login_ip_rate_limit))
        self.capture = RateLimiter(parse_rate("inspector_rate_limit", settings.inspector_rate_limit))


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


async def favicon(request: Request) -> RedirectResponse:
    """Browsers ask for /favicon.ico whatever the page links; the icon is an SVG in static/."""
    return RedirectResponse(request.url_for("static", path="favicon.svg").path, status_code=301)


def error_body(message: str, field: str | None = None) -> dict:
    error = {"message": message}
    if field:
        error["field"] = field
    return {"error": error}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_page(request: Request, status_code: int, message: str) -> Response:
    """Dashboard errors: a page for a browser, a short text for htmx to show in a toast."""
    if is_htmx(request):
        return PlainTextResponse(message, status_code=status_code)
    context = {"status_code": status_code, "message": message}
    return templates.TemplateResponse(request, "error.html", context, status_code=status_code)


async def service_error(request: Request, exc: ServiceError) -> Response:
    if not _is_api(request):
        return error_page(request, exc.status_code, exc.message)
    headers = None
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, TooManyRequests):
        headers = {"Retry-After": retry_after_header(exc.retry_after)}
    return JSONResponse(error_body(exc.message, exc.field), status_code=exc.status_code, headers=headers)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if not _is_api(request) and request.url.path != "/healthz":
        return error_page(request, exc.status_code, exc.detail)
    return JSONResponse(error_body(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def database_unavailable(request: Request, exc: peewee.OperationalError) -> Response:
    """SQLite busy past its timeout, or the database unreachable: nothing was committed
    (every write is one transaction), so the client can safely send the request again."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    message = "the database is busy or unavailable; nothing was stored, retry shortly"
    headers = {"Retry-After": DATABASE_RETRY_AFTER}
    if not _is_api(request):
        response = error_page(request, 503, message[0].upper() + message[1:] + ".")
        response.headers.update(headers)
        return response
    return JSONResponse(error_body(message), status_code=503, headers=headers)


async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
    target = "/setup" if exc.setup else f"/login?next={request.url.path}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    if not _is_api(request):
        return error_page(request, 500, "Something went wrong on our side; the details are in the server log.")
    return JSONResponse(error_body("internal error; the details are in the server log"), status_code=500)
