"""Jinja2 setup and the one way pages are rendered.

`render()` answers a full page for a normal request and only the named partial for an
htmx request (`HX-Request`), with `Vary` on the htmx headers so caches keep them apart. Templates
get the viewer, the CSRF token and a few display filters; they hold no logic beyond that.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from app import __version__
from app.rules import jsontext
from app.rules.subscriptions import is_operational
from app.web.security import csrf_token
from app.web.short_urls import short_url

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

# Badge colours: a stable choice per event family ("order" of "order.created").
BADGE_COLOURS = ("blue", "green", "purple", "orange", "teal", "pink", "indigo", "brown")


def family_colour(event_type: str) -> str:
    family = event_type.split(".", 1)[0]
    if family == "*":
        return "grey"
    return BADGE_COLOURS[hashlib.sha256(family.encode()).digest()[0] % len(BADGE_COLOURS)]


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = ((now or datetime.now(timezone.utc)) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size or unit == "s":
            amount = f"{int(seconds // size)} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    raise AssertionError


def exact_time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty_json(value: object) -> str:
    """Indented JSON for display, numbers with their digits (app/rules/jsontext.py); text that is
    not JSON, or too deep to read, is shown as it is."""
    if isinstance(value, (str, bytes)):
        try:
            value = jsontext.loads_stored(value)
        except (ValueError, RecursionError):
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return jsontext.dumps(value, indent=2, nonfinite_as_null=True)


templates.env.filters.update(
    family_colour=family_colour, relative_time=relative_time, exact_time=exact_time, pretty_json=pretty_json,
    short_url=short_url,
)
# Whether render() is answering a whole page or an htmx fragment. The modal macro's title is
# the page's h1 when its partial is a page of its own, and an h2 under the page's h1 inside
# the dialog. Partials import the macro without context (Jinja's default, cached once), so
# no variable of the render reaches it; a global does, and this value is the current render's.
_whole_page: ContextVar[bool] = ContextVar("whole_page", default=True)

templates.env.globals.update(version=__version__, htmx_script="htmx-2.0.11.min.js", whole_page=_whole_page.get)
templates.env.tests.update(operational=is_operational)


def is_htmx(request: Request) -> bool:
    """An htmx request that wants a fragment. A history restore (Back to a URL an htmx
    request pushed, missing from htmx's cache) also says HX-Request but needs the page."""
    headers = request.headers
    return (headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"
            and headers.get("hx-history-restore-request") != "true")


def render(
    request: Request,
    page: str,
    context: dict,
    partial: str | None = None,
    status_code: int = 200,
    headers: dict | None = None,
) -> Response:
    name = partial if partial and is_htmx(request) else page
    shown_flash = request.session.pop("flash", None) if name == page else None
    context = {"csrf_token": csrf_token(request.session), "flash": shown_flash, **context}
    rendering = _whole_page.set(name == page)
    try:
        response = templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)
    finally:
        _whole_page.reset(rendering)
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


def flash(request: Request, message: str, level: str = "success") -> None:
    """A message for the next full page (after a plain-form redirect)."""
    request.session["flash"] = {"message": message, "level": level}


def toast(message: str, level: str = "success", *events: str) -> dict:
    """Headers that make app.js show a toast after an htmx request, and fire `events`
    (such as "webhooksChanged") that parts of the page listen to in order to refresh."""
    return {"HX-Trigger": json.dumps({"toast": {"message": message, "level": level}, **{e: True for e in events}})}
