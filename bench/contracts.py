"""Delivery contracts: what a tenant whose webhooks all send a custom envelope signed with
an hmac scheme costs, beside Hookline's default contract, in the same run.

Each round runs the throughput part's measurement twice on fresh servers, alternating:
once with the default contract (Standard Webhooks + X-Webhook-Signature, the stored
envelope as it is), once after `PATCH /api/v1/tenants/default` gave the tenant the
contract below (an audit-trail-style envelope with a data path, a timestamped hmac and a
header with placeholders), which its webhooks inherit. The envelope is rendered for every
delivery from the compiled template, the hmac computed over it; the default contract
sends the stored bytes.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from bench.common import AUTH, ROUNDS, HooklineServer, ReceiverProcess, Row, mean
from bench.throughput import deliver

CONTRACT = {
    "signatures": [{"scheme": "hmac", "header": "X-Audit-Signature", "value": "sha256={digest}",
                    "content": "{timestamp}.{body}"}],
    "envelope": {"id": "{delivery.id}", "type": "{event.type}", "timestamp": "{event.time}", "tenantId": "{tenant}",
                 "n": "{event.data.n}", "data": "{event.data}", "source": {"system": "bench", "version": 1}},
}
HEADERS = {"X-Audit-Delivery-Id": "{delivery.id}", "X-Audit-Timestamp": "{timestamp}"}


def _patch(url: str, fields: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(fields).encode(), method="PATCH",
                                     headers={"Content-Type": "application/json", **AUTH})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _one(opts, workdir: Path, receiver: ReceiverProcess, custom: bool) -> dict:
    server = HooklineServer(workdir)
    try:
        if custom:
            _patch(f"{server.base}/api/v1/tenants/default", CONTRACT)
        urls = [receiver.url(f"/fast/{n}") for n in range(opts.webhooks)]
        # The contract's headers are the webhooks' own; its signatures and envelope, the tenant's.
        result = deliver(server, receiver, opts.events, urls, opts.emitters, opts.batch, opts.part_timeout / 2 / ROUNDS,
                         webhook_fields={"headers": HEADERS} if custom else None)
    finally:
        server.stop()
    return {"rate": result.rate, "cpu": result.cpu / max(result.delivered, 1) * 1000, "delivered": result.delivered,
            "expected": result.expected}


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    runs = {False: [], True: []}
    for round_ in range(ROUNDS):
        for custom in (False, True):
            name = "custom" if custom else "default"
            runs[custom].append(_one(opts, workdir / f"{name}-{round_}", receiver, custom))
    results = {side: {key: mean([r[key] for r in runs[side]]) for key in ("rate", "cpu", "delivered", "expected")}
               for side in runs}
    how = f"{opts.events} events x {opts.webhooks} webhooks, batches of {opts.batch}, mean of {ROUNDS} alternating runs"
    rows = []
    for custom, label in ((False, "default contract"), (True, "custom envelope + hmac")):
        result = results[custom]
        each = ", ".join(f"{r['rate']:,.0f}" for r in runs[custom])
        note = f"{result['delivered']:.0f}/{result['expected']:.0f} delivered ({each}); {how}"
        rows += [
            Row("contracts", f"{label}: deliveries/s", result["rate"], "dlv/s", "rate", note=note),
            Row("contracts", f"{label}: server CPU per delivery", result["cpu"], "ms", "cpu"),
        ]
    base, custom = results[False], results[True]
    rows.append(Row("contracts", "custom / default throughput", custom["rate"] / base["rate"] if base["rate"] else None,
                    "x", target="≥ 0.9"))
    return rows
