"""Two session cookies: `hookline_session` for people who sign in, `hookline_portal` for
portal links, so opening a portal link never replaces (or signs out) a dashboard session.

Each cookie is a signed JSON object (itsdangerous, keys derived from the encryption key:
app/services/server_secrets.py) holding the CSRF token, flash messages and, once signed
in, `sid`: the token of a BrowserSession row (app/services/sessions.py), which viewer()
checks on every page, so a session the server ended is no session even with a valid
signature.

Which session a request uses (`request.session`, and the CSRF token it must carry): the
dashboard's when it has signed in, else the portal's when a portal link was opened, else
the dashboard cookie's anonymous one (the login form's token). A browser signed in to the
dashboard that also opens a portal link keeps seeing the dashboard (and signing out ends
both); the portal session is for browsers without one, such as a customer's, or an iframe
on another site, where the `SameSite=Lax` dashboard cookie is not sent at all.

The dashboard cookie is always `SameSite=Lax`. The portal cookie becomes `SameSite=None;
Secure; Partitioned` when `portal_frame_ancestors` lets other sites embed the portal:
browsers send nothing else to a cross-site iframe, and keep a Secure cookie only from
https or http://localhost.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.web.security import csrf_token

DASHBOARD, PORTAL = "dashboard", "portal"
BEARER_PATHS = ("/api/", "/static/")  # answers that never depend on a session
_JAR = "hookline.sessions"


@dataclass(frozen=True)
class CookieOptions:
    name: str
    max_age: int
    same_site: str
    secure: bool
    partitioned: bool = False

    def header(self, value: str, max_age: int | None = None) -> str:
        parts = [f"{self.name}={value}", "Path=/", f"Max-Age={self.max_age if max_age is None else max_age}",
                 "HttpOnly", f"SameSite={self.same_site}"]
        if self.secure:
            parts.append("Secure")
        if self.partitioned:
            parts.append("Partitioned")
        return "; ".join(parts)


def cookie_options(settings: Settings) -> dict[str, CookieOptions]:
    embedded = bool(settings.portal_frame_ancestors)
    return {
        DASHBOARD: CookieOptions("hookline_session", int(settings.session_max_age), "Lax", settings.secure_cookies),
        PORTAL: CookieOptions(
            "hookline_portal", int(settings.portal_session_ttl), "None" if embedded else "Lax",
            secure=embedded or settings.secure_cookies, partitioned=embedded,
        ),
    }


class SessionJar:
    """Both cookies' contents for one request, and which one `request.session` is."""

    def __init__(self, scope: Scope, loaded: dict[str, dict]):
        self._scope = scope
        self.loaded = loaded
        self.data = {kind: dict(values) for kind, values in loaded.items()}
        self._use(DASHBOARD if self.token(DASHBOARD) or not self.token(PORTAL) else PORTAL)

    def token(self, kind: str) -> str | None:
        token = self.data[kind].get("sid")
        return token if isinstance(token, str) else None

    def _use(self, kind: str) -> None:
        self.active = kind
        self._scope["session"] = self.data[kind]

    def begin(self, kind: str, token: str, **values) -> None:
        """A fresh cookie for a new session (no fixation), with a new CSRF token; it is the
        request's session from now on."""
        self.data[kind] = {"sid": token, **values}
        csrf_token(self.data[kind])
        self._use(kind)

    def end(self, kind: str) -> None:
        """The cookie is deleted; the request falls back to the other session, if any."""
        self.data[kind] = {}
        if self.active == kind:
            self._use(PORTAL if kind == DASHBOARD and self.token(PORTAL) else DASHBOARD)


def session_jar(request: Request) -> SessionJar:
    return request.scope[_JAR]


class SessionMiddleware:
    def __init__(self, app: ASGIApp, keys: list[bytes], cookies: dict[str, CookieOptions]):
        self.app = app
        self.cookies = cookies
        self.serializers = {kind: URLSafeSerializer(keys, salt=f"hookline-{kind}-session") for kind in cookies}

    def _load(self, kind: str, value: str | None) -> dict:
        """A cookie that is forged, tampered with, signed with a removed key or not an
        object is no session."""
        if value is None:
            return {}
        try:
            data = self.serializers[kind].loads(value)
        except (BadData, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = HTTPConnection(scope).cookies
        jar = SessionJar(scope, {kind: self._load(kind, sent.get(o.name)) for kind, o in self.cookies.items()})
        scope[_JAR] = jar

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not scope["path"].startswith(BEARER_PATHS):
                    headers.add_vary_header("Cookie")  # a page differs per session: no shared caching
                for kind, options in self.cookies.items():
                    data = jar.data[kind]
                    if data and data != jar.loaded[kind]:
                        headers.append("Set-Cookie", options.header(self.serializers[kind].dumps(data)))
                    elif not data and options.name in sent:
                        headers.append("Set-Cookie", options.header('""', max_age=0))
            await send(message)

        await self.app(scope, receive, send_with_cookies)
