"""Ceilings: how fast can a Python process send signed 1 KB POSTs to the receiver at all?

No database, no queue: a closed loop of `concurrency` senders, each signing a fresh body
(Standard Webhooks + hex, as Hookline does) and POSTing it. Three clients, each in a fresh
process of its own (so its CPU time is its own, read with getrusage), all on uvloop:
bare aiohttp (the practical limit here, and the 1.0 of every ratio), bare
httpx.AsyncClient with its default transport, and what Hookline ships: send_attempt
(app/delivery/outbound.py, which signs too) over app.delivery.outbound.build_client, given a ClaimedDelivery
as the dispatcher would. Child mode: python -m bench.ceilings --client NAME --url U ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

from bench.common import PAD, ROOT, ReceiverProcess, Row, percentile

CLIENTS = {"aiohttp": "bare aiohttp", "httpx": "bare httpx (default transport)", "shipped": "shipped (send_attempt)"}
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # any valid base64 will do


def _signed(event_id: str, body: bytes) -> dict[str, str]:
    """The headers of Hookline's default contract (app/delivery/signed_request.py)."""
    from app.delivery.signed_request import DEFAULT_CONTRACT, build_request
    from app.delivery.signing import SigningKeys
    from app.rules.placeholders import Message

    now = datetime.now(timezone.utc)
    message = Message(event_id, "order.created", now, "{}", "default", "ceiling", "ceiling", event_id)
    return build_request(DEFAULT_CONTRACT, SigningKeys((SECRET,)), message, int(now.timestamp()), 1, body).headers


def _client(name: str, concurrency: int):
    """An object with `async post(url, event_id, body) -> status` that signs and sends,
    and `aclose()`."""
    import aiohttp
    import httpx

    if name == "aiohttp":
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

        class Aiohttp:
            async def post(self, url, event_id, body):
                async with session.post(url, data=body, headers=_signed(event_id, body)) as response:
                    await response.read()
                    return response.status

            aclose = session.close

        return Aiohttp()
    if name == "httpx":
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency), timeout=30)

        class Httpx:
            async def post(self, url, event_id, body):
                return (await client.post(url, content=body, headers=_signed(event_id, body))).status_code

            aclose = client.aclose

        return Httpx()
    return _Shipped(concurrency)


class _Shipped:
    def __init__(self, concurrency: int):
        from app.config import Settings
        from app.delivery.outbound import build_client

        self.settings = Settings(max_concurrency=concurrency).for_dev()
        self.client = build_client(self.settings)
        self.aclose = self.client.aclose

    async def post(self, url, event_id, body):
        from app.delivery.outbound import send_attempt
        from app.delivery.types import ClaimedDelivery, Payload
        from app.rules.placeholders import Message

        now = datetime.now(timezone.utc)
        claimed = ClaimedDelivery(
            id=event_id, attempts=0, lease_expires_at=now, event_id=event_id, event_type="order.created",
            payload=Payload(body, "standard", None, 0),
            webhook_id="ceiling", url=url, secret=SECRET, headers={}, previous_secret=None,
            previous_secret_expires_at=None, timeout=None, retry_schedule=None, attempts_before_recovery=0,
            rate_limit=None, max_in_flight=None, ordered=False,
            message=Message(event_id, "order.created", now, "{}", "default", "ceiling", "ceiling", event_id),
        )
        result = await send_attempt(self.client.transport, claimed, body, self.settings, now)
        return result.status_code or 599


async def _load(name: str, url: str, requests: int, concurrency: int) -> dict:
    client = _client(name, concurrency)
    latencies: list[float] = []
    failures = 0
    todo = iter(range(requests))

    async def sender():
        nonlocal failures
        for n in todo:
            event_id = f"evt_{uuid.uuid4().hex}"
            body = json.dumps({"id": event_id, "type": "order.created", "data": {"n": n, "pad": PAD}}).encode()
            began = time.monotonic()
            status = await client.post(url, event_id, body)
            latencies.append(time.monotonic() - began)
            failures += status >= 300

    cpu_before = _cpu_self()
    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    cpu = _cpu_self() - cpu_before
    await client.aclose()
    return {"requests": requests, "elapsed": elapsed, "cpu": cpu, "failures": failures,
            "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(client: str, receiver: ReceiverProcess, requests: int, concurrency: int, timeout: float) -> dict:
    """One client in its own process; its result is the last line it prints."""
    receiver.reset()
    completed = subprocess.run(
        [sys.executable, "-m", "bench.ceilings", "--client", client, "--url", receiver.url("/fast/ceiling"),
         "--requests", str(requests), "--concurrency", str(concurrency)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"ceiling client {client} failed:\n{completed.stderr[-2000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["received"] = receiver.stats()["unique"]
    return result


def rows_for(client: str, result: dict, concurrency: int) -> list[Row]:
    label = CLIENTS[client]
    note = f"{result['received']}/{result['requests']} received, c={concurrency}"
    if result["failures"]:
        note += f", {result['failures']} non-2xx"
    return [
        Row("ceilings", f"{label}: requests/s", result["requests"] / result["elapsed"], "req/s", "rate", note=note),
        Row("ceilings", f"{label}: client CPU per request", result["cpu"] / result["requests"] * 1000, "ms", "cpu"),
        Row("ceilings", f"{label}: latency p50", result["p50"] * 1000, "ms", "p50"),
        Row("ceilings", f"{label}: latency p99", result["p99"] * 1000, "ms", "p99"),
    ]


def run(opts, workdir, receiver: ReceiverProcess, clients=tuple(CLIENTS)) -> list[Row]:
    rows = []
    for client in clients:
        result = measure(client, receiver, opts.requests, opts.concurrency, opts.part_timeout)
        rows += rows_for(client, result, opts.concurrency)
    return rows


def _child() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", choices=CLIENTS, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(_load(args.client, args.url, args.requests, args.concurrency))))


if __name__ == "__main__":  # the child process `_spawn` starts: python -m bench.ceilings --client …
    _child()
