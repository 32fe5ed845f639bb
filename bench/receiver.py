"""The receiver every benchmark part sends to: raw ASGI under uvicorn + uvloop + httptools.

As cheap as a Python receiver gets, so that it is never what a figure measures. The first
path segment picks the behaviour:

  /fast/...  204 at once             /fail/...  500 at once
  /hang/...  answers after --hang s  /hold/...  answers on POST /_release (or after --hold s)

It records the first arrival (time.monotonic) of every distinct (webhook-id, path); a
request without webhook-id (the peer's) counts as distinct. GET /_stats, GET /_arrivals,
POST /_reset and POST /_release are for the benchmark. Run: python -m bench.receiver --port N
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time

import uvicorn


class Receiver:
    def __init__(self, hang_seconds: float, hold_seconds: float):
        self.hang_seconds = hang_seconds
        self.hold_seconds = hold_seconds
        self._anonymous = itertools.count()
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.arrivals: dict[tuple[str, str], float] = {}
        self.unique_by_prefix: dict[str, int] = {}
        self.first = self.last = None
        self.held = 0
        self.release = asyncio.Event()

    def stats(self) -> dict:
        return {
            "requests": self.requests, "unique": len(self.arrivals), "unique_by_prefix": self.unique_by_prefix,
            "first": self.first, "last": self.last, "held": self.held,
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        if path.startswith("/_"):
            await self._control(path, send)
            return
        now = time.monotonic()
        self.requests += 1
        prefix = path.split("/", 2)[1]
        key = _header(scope, b"webhook-id") or f"anonymous-{next(self._anonymous)}"
        if (key, path) not in self.arrivals:
            self.arrivals[(key, path)] = now
            self.unique_by_prefix[prefix] = self.unique_by_prefix.get(prefix, 0) + 1
        self.first = self.first or now
        status = 204
        if prefix == "hang":
            await asyncio.sleep(self.hang_seconds)
        elif prefix == "hold":
            self.held += 1
            release = self.release
            try:
                await asyncio.wait_for(release.wait(), self.hold_seconds)
            except TimeoutError:
                pass
            finally:
                self.held -= 1
        elif prefix == "fail":
            status = 500
        if status < 300:
            self.last = time.monotonic()
        await _answer(send, status)

    async def _control(self, path: str, send) -> None:
        if path == "/_stats":
            await _answer(send, 200, self.stats())
        elif path == "/_arrivals":
            await _answer(send, 200, [[key, path, at] for (key, path), at in self.arrivals.items()])
        elif path == "/_reset":
            self.release.set()
            self.reset()
            await _answer(send, 200, {})
        elif path == "/_release":
            self.release.set()
            self.release = asyncio.Event()
            await _answer(send, 200, {})
        else:
            await _answer(send, 404, {})


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode()
    return None


async def _answer(send, status: int, body: object = None) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    headers = [(b"content-type", b"application/json")] if payload else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hang", type=float, default=60, help="seconds /hang/ waits before answering")
    parser.add_argument("--hold", type=float, default=120, help="longest /hold/ waits for /_release")
    args = parser.parse_args()
    uvicorn.run(
        Receiver(args.hang, args.hold), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
        lifespan="off", log_level="warning", access_log=False, backlog=16384, timeout_keep_alive=300,
    )


if __name__ == "__main__":
    main()
