"""`/inspect/<token>`: the request inspector's capture URLs (app/services/inspector.py).

Any sender may call one, with any method, content type or body, and no key or session:
the token is the capability. So this route is exempt from the dashboard's CSRF and form
checks (app/web/security.py), answers JSON itself rather than through the dashboard's
error pages, limits each token's rate, and reads at most MAX_BODY_BYTES of a body: a
larger one is refused with 413 and not recorded.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.rules.errors import NotFound
from app.rules.ratelimit import retry_after_header
from app.services import inspector

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def capture(request: Request) -> Response:
    token, now = request.path_params["token"], request.app.state.clock()
    waiting = request.app.state.limits.capture.take(token, now)
    if waiting:
        return _answer(429, "too many requests to this test endpoint; retry later",
                       {"Retry-After": retry_after_header(waiting)})
    body = await _bounded_body(request)
    if body is None:
        return _answer(413, f"the body is larger than {inspector.MAX_BODY_BYTES} bytes; it was not recorded")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.scope["headers"]]
    try:
        received = await run_in_threadpool(inspector.capture, token, request.method, path, headers, body,
                                           request.app.state.settings, now)
    except NotFound as exc:
        return _answer(404, exc.message)
    return JSONResponse({"received": True, "id": received.id})


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None once it passes the bound (a declared length says so at once)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > inspector.MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > inspector.MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
    except ClientDisconnect:
        pass  # what arrived is what was sent
    return b"".join(chunks)


def _answer(status_code: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status_code, headers=headers)


routes = [Route("/inspect/{token}", capture, methods=METHODS)]
