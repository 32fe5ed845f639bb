"""Reading requests: the caller's key, bodies with a size cap, strict JSON, and clear 4xx errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.rules import jsontext
from app.rules.errors import BadRequest, InvalidInput, ServiceError, TooManyRequests, Unauthorized, reject_unknown
from app.rules.ratelimit import RateLimiter, retry_after_header
from app.storage.models import ApiKey

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


async def api_key(request: Request) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    plaintext = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key", "").strip()
    if not plaintext:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    cache, now = request.app.state.api_keys, request.app.state.clock()
    key = cache.cached(plaintext, now) or await run_in_threadpool(cache.authenticate, plaintext, now)
    if key is None:
        raise Unauthorized("invalid or revoked API key")
    return key


def client_ip(request: Request) -> str:
    """The peer address (behind a proxy, start uvicorn with --forwarded-allow-ips so that it
    is the client's, not the proxy's)."""
    return request.client.host if request.client else ""


def within_rate(limiter: RateLimiter, key: object, request: Request, what: str, cost: int = 1) -> None:
    """Spend `cost` of `key`'s tokens, or answer 429 with Retry-After."""
    waiting = limiter.take(key, request.app.state.clock(), cost)
    if waiting:
        raise TooManyRequests(f"too many {what}; retry in {retry_after_header(waiting)} s", waiting)


def scope_of(key: ApiKey) -> int | None:
    """The tenant whose rows this key may see; None for an admin key (every tenant)."""
    return None if key.is_admin else key.tenant_id


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"request body is larger than the limit of {limit} bytes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(f"request body is larger than the limit of {limit} bytes", 413)
    return bytes(body)


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_fields(
    request: Request, limit: int, allow_form: bool = False, optional: bool = False, allowed: set[str] | None = None
) -> dict:
    """A JSON object body (or an urlencoded form where allowed) as a dict.

    `optional` accepts an empty body as `{}`, for actions whose fields all have defaults;
    `allowed`, for actions with a fixed set of fields, refuses any other by name.
    """
    kind = content_type(request)
    body = await read_body(request, limit)
    if optional and not body.strip():
        return {}
    if kind == JSON_TYPE:
        value = parse_json(body, field=None)
        if not isinstance(value, dict):
            raise BadRequest("request body must be a JSON object")
        if allowed is not None:
            reject_unknown(value, allowed)
        return value
    if allow_form and kind == FORM_TYPE:
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise BadRequest("form body is not valid UTF-8") from None
    accepted = f"{JSON_TYPE} or {FORM_TYPE}" if allow_form else JSON_TYPE
    raise BadRequest(f"Content-Type must be {accepted}", 415)


def parse_json(text: str | bytes, field: str | None) -> object:
    """Strict JSON (see app/rules/jsontext.py), its problems as 4xx answers: a value at fault is
    named by its dotted path below `field` (`data.items[2].price`, 422); a whole body at
    fault (not UTF-8, not JSON, nested too deeply) is a 400, a form field at fault a 422.
    """
    try:
        return jsontext.loads(text)
    except jsontext.JSONTextError as exc:
        named = exc.field(field)
        if named is None:
            raise BadRequest(f"malformed JSON body: {exc.reason}") from None
        raise InvalidInput(named, exc.reason) from None


def inline_error(exc: ServiceError, default: str | None = None) -> dict[str | None, str]:
    """{form field: message}, to show an error next to its field (an error without a field
    next to `default`): a nested name such as `filter.all[0].value` belongs to the `filter`
    box, and keeps the rest of its path in the message."""
    if not exc.field:
        return {default: exc.message}
    field = exc.field
    box = re.split(r"[.\[]", field, maxsplit=1)[0]
    reason = exc.message.removeprefix(f"{field}: ")
    return {box: reason if field == box else f"{field.removeprefix(box).lstrip('.')}: {reason}"}


def chosen_filters(params: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """A search form's filled fields, trimmed: an empty field filters nothing, and a link
    built from the result (Load more, Clear one filter) carries only what was chosen."""
    return {name: params[name].strip() for name in names if params.get(name, "").strip()}
