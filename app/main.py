"""The ASGI application: routes, error handlers, and the resources the lifespan owns."""

from __future__ import annotations

import contextlib
import logging

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app import __version__
from app.clock import Clock, system_clock
from app.config import Settings
from app.db import database
from app.dispatch import Dispatcher, build_client
from app.errors import ServiceError, Unauthorized
from app.scheduler import build_scheduler
from app.services.setup import prepare_database
from app.web import api

log = logging.getLogger("hookline")


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    run_sender: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """`run_sender=False` serves the API only, for tests that drive the dispatcher themselves."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        prepare_database(settings, clock)
        app.state.settings = settings
        app.state.clock = clock
        app.state.dispatcher = None
        if not run_sender:
            yield
            return
        async with build_client(settings, transport) as client:
            dispatcher = Dispatcher(settings, client, clock)
            scheduler = build_scheduler(dispatcher, settings)
            app.state.dispatcher = dispatcher
            scheduler.start()
            dispatcher.wake()  # work left from the last run goes out now, not at the first tick
            try:
                yield
            finally:
                scheduler.shutdown(wait=False)
                await dispatcher.shutdown(timeout=settings.request_timeout)
        database.close()

    return Starlette(
        routes=[Route("/healthz", healthz), *api.routes],
        exception_handlers={
            ServiceError: service_error,
            HTTPException: http_error,
            Exception: server_error,
        },
        lifespan=lifespan,
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "version": __version__})


def error_body(message: str, field: str | None = None) -> dict:
    error = {"message": message}
    if field:
        error["field"] = field
    return {"error": error}


async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(error_body(exc.message, exc.field), status_code=exc.status_code, headers=headers)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse(error_body(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal error; the details are in the server log"), status_code=500)
