"""Fixtures of the client tests: a real `hookline serve` subprocess on 127.0.0.1 that a test
can stop and start again on the same port and database, and a loopback proxy that
forwards a request but keeps its answer until the client has given up on it."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest

from tests.helpers import ADMIN_KEY, ServerThread, free_port, serve_hookline, stop_hookline


class HooklineServer:
    """`hookline serve --dev` on one port and database, stoppable and restartable."""

    def __init__(self, env: dict, cwd):
        self.env = {**env, "HOOKLINE_ADMIN_KEY": ADMIN_KEY}
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> HooklineServer:
        self.process = serve_hookline(self.env, self.port, self.cwd)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_hookline(self.process)
            self.process = None


@pytest.fixture
def hookline(env, tmp_path, db):
    """Not started: call `.start()` (a test may want Hookline down first)."""
    server = HooklineServer(env, tmp_path)
    yield server
    server.stop()


class HoldingProxy(ServerThread):
    """Forwards every request to `upstream`. The first answer is kept back until a second
    request arrives (the client timed out and retried), so the client's timeout happens
    after the server committed, for real and without a test sleeping for it."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests: list[bytes] = []
        self.answers: list[httpx.Response] = []
        self._retried = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        super().__init__(self.app)

    def release(self) -> None:
        """Let a held answer go (to a client that is no longer there), before stopping."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._retried.set)

    async def app(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.requests.append(body)
        self._loop = asyncio.get_running_loop()
        first = len(self.requests) == 1
        if not first:
            self._retried.set()
        headers = {k.decode(): v.decode() for k, v in scope["headers"] if k.lower() not in (b"host", b"content-length")}
        async with httpx.AsyncClient(base_url=self.upstream) as client:
            answer = await client.request(scope["method"], scope["path"], content=body, headers=headers)
        self.answers.append(answer)
        if first:
            await asyncio.wait_for(self._retried.wait(), 30)
        reply = [(k.encode(), v.encode()) for k, v in answer.headers.items() if k.lower() != "content-length"]
        await send({"type": "http.response.start", "status": answer.status_code, "headers": reply})
        await send({"type": "http.response.body", "body": answer.content})


@pytest.fixture
def holding_proxy(hookline):
    proxy = None

    def start() -> HoldingProxy:
        nonlocal proxy
        proxy = HoldingProxy(hookline.url).start()
        return proxy

    yield start
    if proxy is not None:
        proxy.release()
        proxy.stop()
