"""Noisy neighbour: do a few slow or broken receivers delay everyone else?

200 webhooks, each event fans out to all of them. The baseline run has 200 healthy ones;
the noisy run points 10 at /hang/ (answers only after Hookline's request timeout) and 10
at /fail/ (500 at once, retried quickly). Both runs measure the 180 healthy webhooks:
deliveries/s from first emit to their last 2xx, and emit-to-arrival p50/p99. The ratio
noisy/baseline should stay ≥ 0.9. The request timeout and retry schedule are shortened
(HOOKLINE_REQUEST_TIMEOUT / HOOKLINE_RETRY_SCHEDULE) so that the run is bounded.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import ROUNDS, HooklineServer, ReceiverProcess, Row, arrival_latencies_ms, mean, percentile
from bench.throughput import deliver

WEBHOOKS, HANGING, FAILING = 200, 10, 10


def _one(opts, workdir: Path, receiver: ReceiverProcess, noisy: bool) -> dict:
    settings = {"request_timeout": opts.noisy_timeout, "retry_schedule": "[0, 1, 2, 4, 8]"}
    healthy = WEBHOOKS - (HANGING + FAILING if noisy else 0)
    urls = [receiver.url(f"/fast/{n}") for n in range(healthy)]
    if noisy:
        urls += [receiver.url(f"/hang/{n}") for n in range(HANGING)]
        urls += [receiver.url(f"/fail/{n}") for n in range(FAILING)]
    server = HooklineServer(workdir, settings=settings)
    try:
        result = deliver(server, receiver, opts.noisy_events, urls, opts.emitters, 1, opts.part_timeout / 2 / ROUNDS)
        healthy_arrivals = [a for a in receiver.arrivals() if a[1].startswith("/fast/") and int(a[1][6:]) < 180]
    finally:
        server.stop()
    # the baseline's 20 extra healthy webhooks also count towards its rate, as load; the
    # comparison uses only the first 180, which exist in both runs
    latencies = arrival_latencies_ms(result.emitted, healthy_arrivals)
    last = max((at for _, _, at in healthy_arrivals), default=0)
    first_emit = min((e.intended for e in result.emitted), default=0)
    return {
        "rate": len(healthy_arrivals) / (last - first_emit) if last > first_emit else 0.0,
        "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
        "arrived": len(healthy_arrivals), "expected": opts.noisy_events * 180,
    }


def run(opts, workdir: Path, receiver: ReceiverProcess) -> list[Row]:
    runs = {False: [], True: []}
    for round_ in range(ROUNDS):
        for noisy in (False, True):
            runs[noisy].append(_one(opts, workdir / f"{'noisy' if noisy else 'baseline'}-{round_}", receiver, noisy))
    base, noisy = ({key: mean([r[key] for r in runs[side]]) for key in ("rate", "p50", "p99", "arrived", "expected")}
                   for side in (False, True))
    ratio = noisy["rate"] / base["rate"] if base["rate"] else None
    note = f"{opts.noisy_events} events x 200 webhooks, timeout {opts.noisy_timeout:g}s"
    rows = []
    for label, result, side in (("without bad webhooks", base, False), ("with 20 bad webhooks", noisy, True)):
        arrived = f"{result['arrived']:.0f}/{result['expected']:.0f} healthy arrived"
        each = ", ".join(f"{r['rate']:,.0f}" for r in runs[side])
        rows += [
            Row("noisy", f"{label}: healthy deliveries/s", result["rate"], "dlv/s", "rate",
                note=f"mean of {ROUNDS} alternating runs ({each}); {arrived}; {note}"),
            Row("noisy", f"{label}: healthy latency p50", result["p50"], "ms", "p50"),
            Row("noisy", f"{label}: healthy latency p99", result["p99"], "ms", "p99"),
        ]
    rows.append(Row("noisy", "healthy throughput, noisy / baseline", ratio, "x", target="≥ 0.9"))
    if base["p99"] and noisy["p99"]:
        rows.append(Row("noisy", "healthy p99 latency, baseline / noisy", base["p99"] / noisy["p99"], "x", target="≥ 0.9"))
    return rows
