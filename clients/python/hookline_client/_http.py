"""What both clients say to httpx and hear back from it: headers, answers, failures."""

from __future__ import annotations

from typing import Any

import httpx

from hookline_client import __version__, _core, errors

USER_AGENT = f"hookline-client/{__version__}"


def client_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT, "Accept": "application/json"}


def unreachable(exc: httpx.TransportError) -> errors.Unreachable:
    """httpx's failure as ours: a connection that was never made means the request was not sent."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    kind = errors.Timeout if isinstance(exc, httpx.TimeoutException) else errors.Unreachable
    return kind(message, request_sent=not not_sent)


def answer_of(response: httpx.Response) -> _core.Answer:
    return _core.Answer(response.status_code, response.headers, response.content)


def request_args(call: _core.Call[Any]) -> dict[str, Any]:
    """httpx.request's keyword arguments for `call` (after the method and path)."""
    content = call.content()
    headers = {"Content-Type": "application/json"} if content is not None else None
    return {"params": call.params, "content": content, "headers": headers}
