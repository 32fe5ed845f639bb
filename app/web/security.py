"""Browser-facing protections: CSRF on every state change, and security headers.

CSRF uses a per-session token that forms send as a hidden `csrf_token` field and htmx
sends as an `X-CSRF-Token` header (set once with `hx-headers` on <body>). A request that
the browser itself marks cross-site (`Sec-Fetch-Site`) is refused before the token is even
looked at. The JSON API is exempt: it authenticates with bearer keys, never cookies.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qs, parse_qsl

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Capture URLs (app/web/capture.py) take any request from any sender, without a session.
EXEMPT_PREFIXES = ("/api/", "/static/", "/healthz", "/metrics", "/inspect/")
MAX_FORM_BYTES = 1024 * 1024
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_token(session: dict) -> str:
    """The session's token, created on first use (so the login form already has one)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


class CSRFMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("sec-fetch-site") == "cross-site":
            await _forbidden("Cross-site request refused.")(scope, receive, send)
            return
        token = headers.get(CSRF_HEADER)
        if token is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body, receive = await _buffer(receive)
            if body is None:
                await PlainTextResponse("Form too large.", status_code=413)(scope, receive, send)
                return
            token = (parse_qs(body.decode("latin-1")).get(CSRF_FIELD) or [None])[0]
        expected = scope.get("session", {}).get("csrf")
        if not token or not expected or not hmac.compare_digest(token, expected):
            await _forbidden("The form expired or did not come from this site. Reload the page and try again.")(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


class FormTextMiddleware:
    """400 for a dashboard form whose text is not UTF-8.

    Starlette decodes form fields leniently (raw bytes as latin-1, a bad percent-escape as
    U+FFFD), so a broken or UTF-16 form would be stored as altered text without a word.
    Browsers send urlencoded forms as UTF-8; anything else is refused here with the reason,
    before a handler sees it. The API reads its own form bodies strictly (app/web/inputs.py).
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in SAFE_METHODS or scope["path"].startswith(EXEMPT_PREFIXES)
                or not Headers(scope=scope).get("content-type", "").startswith("application/x-www-form-urlencoded")):
            await self.app(scope, receive, send)
            return
        body, receive = await _buffer(receive)
        if body is None:
            await PlainTextResponse("Form too large.", status_code=413)(scope, receive, send)
            return
        if problem := _form_text_problem(body):
            await PlainTextResponse(f"The form {problem}; nothing was saved.", status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _form_text_problem(body: bytes) -> str | None:
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return "is not valid UTF-8 text (its bytes or a %-escape in it)"
    # No text box holds a NUL; a form that has them is UTF-16 or binary.
    if any("\0" in name or "\0" in value for name, value in fields):
        return "is not valid UTF-8 text (it holds NUL characters, as UTF-16 does)"
    return None


def _forbidden(message: str) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=403)


async def _buffer(receive: Receive) -> tuple[bytes | None, Receive]:
    """Read the whole body (bounded) and hand the app a receive() that replays it."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None, receive
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


class SecurityHeadersMiddleware:
    """A strict CSP (no inline script or style anywhere), framing limited to the portal's
    allowed origins, and no referrer leaks of webhook or delivery ids."""

    def __init__(self, app: ASGIApp, frame_ancestors: tuple[str, ...] = ()):
        self.app = app
        ancestors = " ".join(("'self'",) + frame_ancestors)
        self.csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.csp)
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_COUNT = 100


class HeaderLimitMiddleware:
    """431 for requests with more header bytes or lines than any real client sends.

    uvicorn's default parser (httptools) takes headers of any size, so without this an
    8 MB header reaches every handler and every log line that copies headers.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers", ()) if scope["type"] == "http" else ()
        if len(headers) > MAX_HEADER_COUNT or sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
            message = f"request headers are larger than {MAX_HEADER_BYTES} bytes or {MAX_HEADER_COUNT} lines"
            if scope["path"].startswith("/api/"):
                response = JSONResponse({"error": {"message": message}}, status_code=431)
            else:
                response = PlainTextResponse(message[0].upper() + message[1:] + ".", status_code=431)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
