"""Trace context at a real receiver: every attempt of an event emitted with a `traceparent`
sends a child of it (same trace, same flags, a new parent id per attempt) and its
`tracestate`; an event without one sends neither header. With spans exported (the SDK's
in-memory exporter), the attempt's span is the parent the header names."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.delivery.tracing import Tracing
from app.rules.tracecontext import TraceContext, parse_traceparent
from app.services.events import emit_event
from app.storage.models import Attempt, Tenant
from tests.helpers import emit, make_webhook

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"
CONTEXT = TraceContext(f"00-{TRACE}-{PRODUCER_SPAN}-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")


def emit_traced(settings, clock, trace=CONTEXT, data=None):
    tenant = Tenant.get(Tenant.slug == "default")
    return emit_event(tenant, "order.created", data or {"id": 1}, settings, clock(), trace=trace)


@pytest.fixture
def exported():
    """Spans as the SDK records them, in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Tracing(provider), exporter
    provider.shutdown()


def sent_parents(requests) -> list[str]:
    """The parent id of each request's traceparent, checked to be a child of the producer's."""
    parents = []
    for request in requests:
        header = request.headers["traceparent"]
        assert parse_traceparent(header) == header
        assert header.startswith(f"00-{TRACE}-") and header.endswith("-01")
        parents.append(header[36:52])
    return parents


async def test_each_attempt_sends_a_child_of_the_events_traceparent_and_its_tracestate(
        db, settings, clock, receiver, engine):
    receiver.plan("/hook", 500, 200)
    make_webhook(settings, clock, receiver.url())
    emit_traced(settings, clock)

    await engine.run()
    clock.advance(5)
    await engine.run()

    requests = receiver.to("/hook")
    parents = sent_parents(requests)
    assert len(set(parents)) == 2 and PRODUCER_SPAN not in parents, "a new span id per attempt"
    assert [r.headers["tracestate"] for r in requests] == [CONTEXT.tracestate] * 2
    # The attempt log shows what was sent.
    logged = [a.request_headers for a in Attempt.select().order_by(Attempt.number)]
    assert [entry["traceparent"][36:52] for entry in logged] == parents
    assert {entry["tracestate"] for entry in logged} == {CONTEXT.tracestate}


async def test_an_event_without_trace_context_sends_no_trace_headers(db, settings, clock, receiver, engine):
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    (request,) = receiver.to("/hook")
    assert not {"traceparent", "tracestate"} & set(request.headers)
    (attempt,) = Attempt.select()
    assert not {"traceparent", "tracestate"} & set(attempt.request_headers)


async def test_a_traceparent_without_tracestate_sends_none(db, settings, clock, receiver, engine):
    make_webhook(settings, clock, receiver.url())
    emit_traced(settings, clock, TraceContext(f"00-{TRACE}-{PRODUCER_SPAN}-00"))
    await engine.run()
    (request,) = receiver.to("/hook")
    assert request.headers["traceparent"].endswith("-00"), "not sampled stays not sampled"
    assert "tracestate" not in request.headers


async def test_the_attempt_span_is_the_parent_the_receiver_is_told(db, settings, clock, receiver, make_engine, exported):
    tracing, exporter = exported
    engine = await make_engine(tracing=tracing)
    receiver.plan("/hook", 503, 200)
    webhook = make_webhook(settings, clock, receiver.url(), headers={"Authorization": "Bearer s3cr3t-token-1234"})
    emitted = emit_traced(settings, clock, data={"card": "4242424242424242"})

    await engine.run()
    clock.advance(5)
    await engine.run()

    parents = sent_parents(receiver.to("/hook"))
    attempts = [span for span in exporter.get_finished_spans() if span.name == "hookline.attempt"]
    assert [format(span.context.span_id, "016x") for span in attempts] == parents
    for number, span in enumerate(attempts, start=1):
        assert format(span.context.trace_id, "032x") == TRACE
        assert format(span.parent.span_id, "016x") == PRODUCER_SPAN and span.parent.is_remote
        assert span.attributes["hookline.webhook.id"] == webhook.id
        assert span.attributes["hookline.event.id"] == emitted.event_id
        assert span.attributes["hookline.event.type"] == "order.created"
        assert span.attributes["hookline.attempt"] == number
    assert [span.attributes["hookline.outcome"] for span in attempts] == ["failed", "succeeded"]
    assert [span.attributes.get("error.type") for span in attempts] == ["503", None]
    assert attempts[0].status.status_code.name == "ERROR"

    claims = [span for span in exporter.get_finished_spans() if span.name == "hookline.claim"]
    assert [span.attributes["hookline.deliveries"] for span in claims] == [1, 1]
    assert len({span.context.trace_id for span in claims}) == 2, "a claim is a trace of its own"

    everything = json.dumps([json.loads(span.to_json()) for span in exporter.get_finished_spans()])
    for secret in ("4242424242424242", "s3cr3t-token-1234", "whsec_"):
        assert secret not in everything


async def test_an_exported_attempt_of_an_event_without_context_starts_a_trace_and_sends_nothing(
        db, settings, clock, receiver, make_engine, exported):
    tracing, exporter = exported
    engine = await make_engine(tracing=tracing)
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    (request,) = receiver.to("/hook")
    assert "traceparent" not in request.headers, "the request is the same whether spans are exported or not"
    (span,) = [span for span in exporter.get_finished_spans() if span.name == "hookline.attempt"]
    assert span.parent is None and span.attributes["hookline.outcome"] == "succeeded"
