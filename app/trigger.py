"""`hookline trigger order.created [--data '{…}'] [--tenant T] [--wait]`: emit one event
through a running server's API, as an app would, and optionally watch its deliveries.

A client of the server over HTTP, like `hookline listen`: no config file or database of
its own, so it works against a remote server as well as a local one. It uses httpx, which
the server depends on anyway, rather than the hookline-client distribution: the server
must install without that, and a developer's one-off trigger wants a failure shown at
once, not retried. Expected failures (bad JSON, a wrong key, an unknown type, a server
that is down) are one line on stderr and exit status 1 or 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from urllib.parse import quote

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"
FINAL_STATUSES = {"succeeded", "failed", "cancelled"}
WAIT_POLL_SECONDS = 0.2


class Refused(Exception):
    """What the user is told, in the server's words, before exiting with status 1."""


def add_parser(commands) -> None:
    trigger = commands.add_parser(
        "trigger", help="emit one event through a server's API (the type's example payload unless --data)")
    trigger.add_argument("type", help="event type, such as order.created")
    trigger.add_argument("--data", help="the event's data as JSON (default: the type's example from the catalog)")
    trigger.add_argument("--tenant", help="tenant to emit for (admin keys only; default: the key's own)")
    trigger.add_argument("--wait", action="store_true", help="follow the deliveries and print each attempt")
    trigger.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                         help="with --wait: stop waiting after this long (default: 30)")
    trigger.add_argument("--server", default=DEFAULT_SERVER, help=f"Hookline server (default: {DEFAULT_SERVER})")
    trigger.add_argument("--api-key", default=None, help="API key (default: $HOOKLINE_API_KEY)")


def run_trigger(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get("HOOKLINE_API_KEY")
    if not api_key:
        return _fail("needs an API key: --api-key or $HOOKLINE_API_KEY", 2)
    if args.data is not None:
        try:
            _check_json(args.data)
        except ValueError as exc:
            return _fail(f"--data is not JSON: {exc}", 2)
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        with httpx.Client(base_url=args.server.rstrip("/"), headers=headers, timeout=15, trust_env=False) as api:
            return _trigger(api, args)
    except Refused as exc:
        return _fail(str(exc), 1)
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach {args.server}: {exc or type(exc).__name__}", 1)


def _fail(message: str, status: int) -> int:
    print(f"hookline trigger: {message}", file=sys.stderr)
    return status


def _check_json(text: str) -> None:
    """Raise ValueError unless `text` is JSON as the server accepts it (no NaN or Infinity)."""

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not a JSON number")

    json.loads(text, parse_constant=refuse)


def _api(api: httpx.Client, method: str, path: str, **kwargs) -> dict:
    """The answer's JSON, or Refused with the server's own message."""
    response = api.request(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code} from {response.url}"
        raise Refused(message)
    return response.json()


def _trigger(api: httpx.Client, args: argparse.Namespace) -> int:
    """The body is written around --data as typed, so numbers keep their digits (`1.10`
    stays `1.10`, as the server keeps them)."""
    data = args.data
    if data is None:
        example = _api(api, "GET", f"/api/v1/event-types/{quote(args.type, safe='')}")["example"]
        data = "{}" if example is None else json.dumps(example)
        said = "the catalog has no example, sending {}" if example is None else f"the example of {args.type}"
        print(f"data: {said}", file=sys.stderr)
    tenant = f',"tenant":{json.dumps(args.tenant)}' if args.tenant else ""
    body = f'{{"type":{json.dumps(args.type)},"data":{data}{tenant}}}'
    emitted = _api(api, "POST", "/api/v1/events", content=body.encode(), headers={"Content-Type": "application/json"})
    count = emitted["deliveries"]
    print(f"{emitted['id']} {args.type}: {count} {'delivery' if count == 1 else 'deliveries'}", flush=True)
    if not args.wait or not count:
        return 0
    return _follow(api, emitted["id"], args.timeout)


def _follow(api: httpx.Client, event_id: str, timeout: float) -> int:
    """Print each attempt of each delivery once, until every delivery is final or `timeout`
    passed; 0 when every delivery succeeded."""
    shown: dict[str, int] = {}  # delivery id -> attempts printed
    deadline = time.monotonic() + timeout
    while True:
        deliveries = _api(api, "GET", f"/api/v1/events/{event_id}")["deliveries"]
        for delivery in deliveries:
            if delivery["attempts"] > shown.get(delivery["id"], 0):
                detail = _api(api, "GET", f"/api/v1/deliveries/{delivery['id']}")
                for line in attempt_lines(detail, shown.get(delivery["id"], 0)):
                    print(line, flush=True)
                shown[delivery["id"]] = len(detail["attempt_log"])
        if all(d["status"] in FINAL_STATUSES for d in deliveries):
            return 0 if all(d["status"] == "succeeded" for d in deliveries) else 1
        if time.monotonic() >= deadline:
            waiting = sum(d["status"] not in FINAL_STATUSES for d in deliveries)
            return _fail(f"still waiting after {timeout:g} s: {waiting} of {len(deliveries)} deliveries", 1)
        time.sleep(WAIT_POLL_SECONDS)


def attempt_lines(delivery: dict, already_shown: int) -> list[str]:
    """A line per attempt not shown yet, such as `  dlv_… -> wh_…: attempt 2: 500 in 3 ms
    (next attempt at …)`; the last one says where the delivery stands, earlier ones
    (missed between two polls) that they were retried."""
    log = delivery["attempt_log"]
    if delivery["status"] == "pending":
        now = f"next attempt at {delivery['next_attempt_at']}"
    else:
        now = delivery["status"]
    lines = []
    for attempt in log[already_shown:]:
        answer = attempt["response_status"] or attempt["error"] or "no answer"
        took = f" in {attempt['duration_ms']} ms" if attempt["duration_ms"] is not None else ""
        then = now if attempt is log[-1] else "retried"
        where = f"{delivery['id']} -> {delivery['webhook_id']}"
        lines.append(f"  {where}: attempt {attempt['number']}: {answer}{took} ({then})")
    return lines
