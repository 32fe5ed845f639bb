"""Reading API requests: the caller's key, and bodies with a size cap and clear 4xx errors."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.errors import BadRequest, InvalidInput, Unauthorized
from app.models import ApiKey
from app.services.api_keys import authenticate

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


async def api_key(request: Request) -> ApiKey:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    plaintext = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key", "").strip()
    if not plaintext:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    key = await run_in_threadpool(authenticate, plaintext)
    if key is None:
        raise Unauthorized("invalid or revoked API key")
    return key


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
    """Strict JSON: NaN and Infinity are not JSON, and receivers would choke on them."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        if field:
            raise InvalidInput(field, f"not valid JSON ({exc})") from None
        raise BadRequest(f"malformed JSON body ({exc})") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in JSON")
