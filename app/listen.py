"""`hookline listen --forward-to http://localhost:3000/webhooks`: a Hookline server's
webhooks, on the developer's machine.

The CLI opens a session (`GET /api/v1/listen`, Server-Sent Events: app/web/api/listen.py),
POSTs every delivery pushed down the stream to the local URL with the headers and body
Hookline signed, and reports the local answer back, which becomes the attempt: a local
500 is retried on the server's schedule. Only httpx is needed, and nothing of the server:
it talks to a server over HTTP like any client.

A lost stream is opened again after 1, 2, 4 … 30 seconds, `--reconnect-attempts` times
in a row at most, with the same signing secret (the local app keeps verifying); each new
session gets the deliveries of events emitted from then on. Ctrl-C closes the stream,
which ends the session on the server: its webhook is removed, its pending deliveries are
cancelled. Expected failures (a wrong key, a server that is down, a local app that is not
running) are one line each, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from datetime import datetime

import httpx

DEFAULT_SERVER = "http://127.0.0.1:8000"
SECRET_HEADER = "Hookline-Listen-Secret"
RECONNECT_MAX_SECONDS = 30
# The server sends a comment every 15 s (app/web/api/listen.py): three missed, it is gone.
STREAM_READ_TIMEOUT = 45
MAX_SHOWN_BODY = 2000


class Refused(Exception):
    """The server answered the stream with a 4xx: retrying cannot help."""


def add_parser(commands) -> None:
    listen = commands.add_parser(
        "listen", help="forward a Hookline server's webhooks to a local URL, for development")
    listen.add_argument("--forward-to", required=True, metavar="URL",
                        help="local URL to POST each delivery to, such as http://localhost:3000/webhooks")
    listen.add_argument("--events", default="*", help="event types or wildcards, comma-separated (default: *)")
    listen.add_argument("--server", default=DEFAULT_SERVER, help=f"Hookline server (default: {DEFAULT_SERVER})")
    listen.add_argument("--api-key", default=None, help="API key (default: $HOOKLINE_API_KEY)")
    listen.add_argument("--tenant", default=None, help="tenant to listen to (admin keys only)")
    listen.add_argument("--print-json", action="store_true", help="also print each request's and answer's body")
    listen.add_argument("--reconnect-attempts", type=int, default=8, metavar="N",
                        help="reconnections in a row before giving up (default: 8)")


def run_listen(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get("HOOKLINE_API_KEY")
    if not api_key:
        print("hookline listen: needs an API key: --api-key or $HOOKLINE_API_KEY", file=sys.stderr)
        return 2
    return asyncio.run(_until_interrupted(Listener(args, api_key)))


async def _until_interrupted(listener: Listener) -> int:
    """Ctrl-C (or SIGTERM) cancels the listener, which closes the stream: the server then
    ends the session at once."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await listener.run()
    except asyncio.CancelledError:
        listener.say("Stopped; the session is closed and its webhook removed.", err=True)
        return 0


class Listener:
    def __init__(self, args: argparse.Namespace, api_key: str):
        self.args = args
        self.api_key = api_key
        self.secret: str | None = None
        self.webhook_id: str | None = None
        self._forwards: set[asyncio.Task] = set()

    def say(self, line: str, err: bool = False) -> None:
        print(line, file=sys.stderr if err else sys.stdout, flush=True)

    async def run(self) -> int:
        timeout = httpx.Timeout(10, read=STREAM_READ_TIMEOUT)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with (httpx.AsyncClient(base_url=self.args.server, headers=headers, timeout=timeout,
                                      trust_env=False) as hookline,
                    httpx.AsyncClient(follow_redirects=False, trust_env=False) as local):
            try:
                return await self._stream_with_reconnects(hookline, local)
            finally:
                for task in self._forwards:
                    task.cancel()
                await asyncio.gather(*self._forwards, return_exceptions=True)

    async def _stream_with_reconnects(self, hookline: httpx.AsyncClient, local: httpx.AsyncClient) -> int:
        failures = 0
        while True:
            try:
                reason = await self._stream(hookline, local)
                failures = 0 if self.webhook_id else failures  # a stream that opened resets the count
            except Refused as exc:
                self.say(f"hookline listen: {exc}", err=True)
                return 2
            except httpx.HTTPError as exc:
                reason = _transport_problem(exc)
            failures += 1
            if failures > self.args.reconnect_attempts:
                self.say(f"hookline listen: lost {self.args.server} ({reason}); gave up after "
                         f"{self.args.reconnect_attempts} reconnection attempts", err=True)
                return 1
            delay = min(2 ** (failures - 1), RECONNECT_MAX_SECONDS)
            self.say(f"Connection to {self.args.server} lost ({reason}); reconnecting in {delay}s", err=True)
            self.webhook_id = None
            await asyncio.sleep(delay)

    async def _stream(self, hookline: httpx.AsyncClient, local: httpx.AsyncClient) -> str:
        """One session, until its stream ends; why it ended."""
        params = {"events": self.args.events, "forward_to": self.args.forward_to}
        if self.args.tenant:
            params["tenant"] = self.args.tenant
        headers = {SECRET_HEADER: self.secret} if self.secret else {}
        async with hookline.stream("GET", "/api/v1/listen", params=params, headers=headers) as response:
            if response.status_code != 200:
                message = _error_message(await response.aread(), response.status_code)
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    raise Refused(message)
                return message
            async for event, data in _server_sent_events(response):
                if event == "session":
                    self._opened(json.loads(data))
                elif event == "delivery":
                    task = asyncio.create_task(self._forward(hookline, local, json.loads(data)))
                    self._forwards.add(task)
                    task.add_done_callback(self._forwards.discard)
                elif event == "end":
                    return json.loads(data).get("reason", "the server ended the stream")
        return "the server closed the stream"

    def _opened(self, session: dict) -> None:
        self.webhook_id = session["webhook_id"]
        if self.secret is None:
            self.secret = session["secret"]
            self.say(f"Ready. Forwarding {', '.join(session['events'])} events of tenant {session['tenant']!r} "
                     f"to {session['forward_to']} (session {self.webhook_id})")
            self.say(f"Signing secret: {self.secret}")
            self.say("Press Ctrl-C to stop.")
        else:
            self.say("Reconnected; same signing secret.", err=True)

    async def _forward(self, hookline: httpx.AsyncClient, local: httpx.AsyncClient, push: dict) -> None:
        body = push["body"].encode()
        began = time.perf_counter()
        status_code = text = error = None
        try:
            answer = await local.post(self.args.forward_to, content=body, headers=push["headers"],
                                      timeout=push["timeout"])
            status_code, text = answer.status_code, answer.text[:MAX_SHOWN_BODY]
        except httpx.TimeoutException:
            error = f"timed out after {push['timeout']:g}s"
        except httpx.HTTPError as exc:
            error = _transport_problem(exc)
        duration_ms = round((time.perf_counter() - began) * 1000)
        outcome = str(status_code) if status_code is not None else error
        self.say(f"{datetime.now():%H:%M:%S}  {push['event_type']:<24} {push['event_id']}  -> {outcome}  "
                 f"{duration_ms} ms" + (f"  (attempt {push['attempt']})" if push["attempt"] > 1 else ""))
        if self.args.print_json:
            self.say(f"  request:  {_shown(push['body'])}")
            if text is not None:
                self.say(f"  response: {_shown(text)}")
        report = {"delivery_id": push["delivery_id"], "status_code": status_code, "duration_ms": duration_ms,
                  "response_body": text, "error": error}
        try:
            reported = await hookline.post(f"/api/v1/listen/{self.webhook_id}/results", json=report)
        except httpx.HTTPError as exc:
            self.say(f"  could not report the answer to {self.args.server} ({_transport_problem(exc)}); "
                     "the server retries this delivery", err=True)
            return
        if reported.status_code != 204:
            self.say(f"  the server did not take the answer: {_error_message(reported.content, reported.status_code)}",
                     err=True)


async def _server_sent_events(response: httpx.Response):
    """(event, data) of each event in a text/event-stream; comments (pings) skipped."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


def _error_message(body: bytes, status_code: int) -> str:
    try:
        return json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status_code}"


def _transport_problem(exc: httpx.HTTPError) -> str:
    """A short reason: the OS error under httpx's wrappers (\"All connection attempts failed\"
    hides a refused connection) when there is one."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "no data from the server for too long"
    return str(exc) or type(exc).__name__


def _shown(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_BODY else text[:MAX_SHOWN_BODY] + "…"
