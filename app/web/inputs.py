"""Reading API requests: the caller's key, and bodies with a size cap and clear 4xx errors."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.errors import BadRequest, InvalidInput, TooManyRequests, Unauthorized
from app.models import ApiKey
from app.ratelimit import RateLimiter, retry_after_header

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


async def read_fields(request: Request, limit: int, allow_form: bool = False, optional: bool = False) -> dict:
    """A JSON object body (or an urlencoded form where allowed) as a dict.

    `optional` accepts an empty body as `{}`, for actions whose fields all have defaults.
    """
    kind = content_type(request)
    body = await read_body(request, limit)
    if optional and not body.strip():
        return {}
    if kind == JSON_TYPE:
        value = parse_json(body, field=None)
        if not isinstance(value, dict):
            raise BadRequest("request body must be a JSON object")
        return value
    if allow_form and kind == FORM_TYPE:
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise BadRequest("form body is not valid UTF-8") from None
    accepted = f"{JSON_TYPE} or {FORM_TYPE}" if allow_form else JSON_TYPE
    raise BadRequest(f"Content-Type must be {accepted}", 415)


def parse_json(text: str | bytes, field: str | None) -> object:
    """Strict JSON: NaN and Infinity are not JSON, and receivers would choke on them.

    Lone UTF-16 surrogates (`"\\ud800"`) are valid JSON syntax but not Unicode text: they
    cannot be stored or sent as UTF-8, so they are refused, naming the field that holds
    one. `\\u0000` is fine: it stays escaped in the stored JSON and is signed and delivered
    byte for byte.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _refusal(field, "is nested too deeply") from None
    except (json.JSONDecodeError, ValueError) as exc:
        if field:
            raise InvalidInput(field, f"not valid JSON ({exc})") from None
        raise BadRequest(f"malformed JSON body ({exc})") from None
    if _ESCAPED_SURROGATE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        _reject_lone_surrogates(value, field)
    return value


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _reject_lone_surrogates(value: object, field: str | None) -> None:
    """Name the top-level field holding a lone surrogate (a valid pair is one character)."""
    parts = value.items() if isinstance(value, dict) and field is None else [(field, value)]
    for name, part in parts:
        if not _is_unicode([name, part]):
            named = name if isinstance(name, str) and _is_unicode(name) else None
            raise _refusal(named, "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode")


def _is_unicode(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refusal(field: str | None, message: str) -> Exception:
    return InvalidInput(field, message) if field else BadRequest(f"request body {message}")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")
