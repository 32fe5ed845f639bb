"""W3C trace context through the API: a single emit's `traceparent`/`tracestate` headers,
a batch item's fields (the request's headers by default), stored with the event and shown
in the event answers; malformed ones refused with the header named. End to end through
`serve` with spans exported: the emit span, the attempt span and the receiver's header are
one trace."""

from __future__ import annotations

import sys

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.config import ConfigError
from app.delivery.tracing import Tracing, build_tracing, check_installed
from app.main import create_app
from app.rules.clock import system_clock
from app.storage.db import database
from app.storage.models import Event
from tests.helpers import ADMIN, ServerThread, create_webhook

pytestmark = pytest.mark.postgres

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def stored(event_id: str) -> tuple:
    event = Event.get_by_id(event_id)
    return event.traceparent, event.tracestate


def emit(api, headers=(), **body):
    return api.post("/api/v1/events", json={"type": "order.created", **body}, headers=[*ADMIN.items(), *headers])


@pytest.mark.parametrize(
    "headers, expected",
    [
        ([], (None, None)),
        ([("traceparent", TRACEPARENT)], (TRACEPARENT, None)),
        ([("traceparent", TRACEPARENT), ("tracestate", "rojo=1, congo=2")], (TRACEPARENT, "rojo=1,congo=2")),
        # Several tracestate lines are one list, in order.
        ([("traceparent", TRACEPARENT), ("tracestate", "rojo=1"), ("tracestate", "congo=2")],
         (TRACEPARENT, "rojo=1,congo=2")),
        ([("traceparent", f"01-{TRACE}-00f067aa0ba902b7-01-later")], (TRACEPARENT, None)),
    ],
)
def test_an_emit_stores_its_trace_headers(api, headers, expected):
    response = emit(api, headers)
    assert response.status_code == 202, response.text
    assert stored(response.json()["id"]) == expected


@pytest.mark.parametrize(
    "headers, expected",
    [
        ([], (None, None)),
        ([("traceparent", TRACEPARENT)], (TRACEPARENT, None)),
        ([("traceparent", f"01-{TRACE}-00f067aa0ba902b7-01-later"), ("tracestate", "rojo=1, congo=2")],
         (TRACEPARENT, "rojo=1,congo=2")),
    ],
)
def test_the_event_answers_show_its_trace_context_as_stored(api, headers, expected):
    event_id = emit(api, headers).json()["id"]
    one = api.get(f"/api/v1/events/{event_id}", headers=ADMIN).json()
    (listed,) = api.get("/api/v1/events", headers=ADMIN).json()["data"]
    fan_out = api.get(f"/api/v1/events/{event_id}/deliveries", headers=ADMIN).json()["event"]
    for answer in (one, listed, fan_out):
        assert (answer["id"], answer["traceparent"], answer["tracestate"]) == (event_id, *expected)


@pytest.mark.parametrize(
    "headers, field, phrase",
    [
        ([("traceparent", TRACEPARENT.upper())], "traceparent", "must be 00-<trace id"),
        ([("traceparent", f"00-{'0' * 32}-00f067aa0ba902b7-01")], "traceparent", "trace id must not be all zeros"),
        ([("traceparent", f"00-{TRACE}-{'0' * 16}-01")], "traceparent", "parent id must not be all zeros"),
        ([("traceparent", TRACEPARENT), ("traceparent", OTHER)], "traceparent", "sent more than once"),
        ([("tracestate", "rojo=1")], "tracestate", "sent without a traceparent"),
        ([("traceparent", TRACEPARENT), ("tracestate", "Rojo=1")], "tracestate", "list member 1 is not key=value"),
    ],
)
def test_a_malformed_trace_header_is_refused_with_its_name_and_nothing_is_stored(api, headers, field, phrase):
    response = emit(api, headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field and error["message"].startswith(f"{field}: ") and phrase in error["message"]
    assert Event.select().count() == 0


def test_a_single_emit_takes_trace_context_from_headers_only(api):
    response = emit(api, traceparent=TRACEPARENT)
    assert response.status_code == 422 and response.json()["error"]["field"] == "traceparent"


def test_batch_items_carry_their_own_trace_context_or_take_the_requests(api):
    items = [
        {"type": "order.created", "traceparent": OTHER, "tracestate": "congo=2"},
        {"type": "order.created"},  # the request's headers
        {"type": "order.created", "traceparent": OTHER},  # its own, without the request's tracestate
    ]
    response = api.post("/api/v1/events/batch", json={"events": items},
                        headers={**ADMIN, "traceparent": TRACEPARENT, "tracestate": "rojo=1"})
    assert response.status_code == 202, response.text
    assert [stored(item["id"]) for item in response.json()["data"]] == [
        (OTHER, "congo=2"), (TRACEPARENT, "rojo=1"), (OTHER, None)]


@pytest.mark.parametrize(
    "item, field",
    [
        ({"type": "order.created", "traceparent": "nonsense"}, "events[1].traceparent"),
        ({"type": "order.created", "tracestate": "rojo=1"}, "events[1].tracestate"),
        ({"type": "order.created", "traceparent": 7}, "events[1].traceparent"),
    ],
)
def test_a_malformed_batch_item_context_is_named_by_index_and_nothing_is_stored(api, item, field):
    response = api.post("/api/v1/events/batch", json={"events": [{"type": "order.created"}, item]}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert Event.select().count() == 0


def test_a_custom_header_may_not_set_trace_context(api):
    for name in ("traceparent", "TraceState"):
        response = api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "headers": {name: "x"}},
                            headers=ADMIN)
        assert response.status_code == 422
        assert response.json()["error"]["field"] == f"headers.{name}"


def test_the_emit_span_the_attempt_span_and_the_receivers_header_are_one_trace(settings, receiver):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = ServerThread(create_app(settings, clock=system_clock, tracing=Tracing(provider)), lifespan="on").start()
    try:
        with httpx.Client(base_url=server.url(), timeout=30) as api:
            create_webhook(api, url=receiver.url())
            event_id = emit(api, [("traceparent", TRACEPARENT)]).json()["id"]
            (request,) = receiver.wait_for(1)
    finally:
        server.stop()
        database.close()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    emitted, attempt = spans["hookline.emit"], spans["hookline.attempt"]
    sent = request.headers["traceparent"]
    # The event's trace id == the header's == the spans'; the parent ids chain.
    assert sent[3:35] == TRACE == format(emitted.context.trace_id, "032x") == format(attempt.context.trace_id, "032x")
    assert format(emitted.parent.span_id, "016x") == format(attempt.parent.span_id, "016x") == TRACEPARENT[36:52]
    assert sent[36:52] == format(attempt.context.span_id, "016x")
    assert emitted.attributes["hookline.event.id"] == event_id == attempt.attributes["hookline.event.id"]
    assert (emitted.attributes["hookline.outcome"], emitted.attributes["hookline.deliveries"]) == ("accepted", 1)


def test_the_otlp_endpoint_without_the_extra_stops_the_start_naming_what_to_install(settings, monkeypatch):
    settings = settings.replace(otlp_endpoint="http://127.0.0.1:4318/v1/traces")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"otlp_endpoint .* OpenTelemetry is not installed .*hookline\[otel\]"):
        check_installed(settings)
    with pytest.raises(ConfigError):
        build_tracing(settings)


def test_no_endpoint_no_tracing(settings):
    assert build_tracing(settings) is None
    with pytest.raises(ConfigError, match="otlp_endpoint"):
        settings.replace(otlp_endpoint="127.0.0.1:4318")


def test_spans_reach_an_otlp_collector_when_otlp_endpoint_is_set(settings, receiver):
    """build_tracing's exporter, against a collector stand-in on 127.0.0.1: what it receives
    is OTLP/HTTP protobuf, and the spans are the ones the in-memory tests check."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    settings = settings.replace(otlp_endpoint=receiver.url("/v1/traces"))
    server = ServerThread(create_app(settings, clock=system_clock), lifespan="on").start()
    try:
        with httpx.Client(base_url=server.url(), timeout=30) as api:
            create_webhook(api, url=receiver.url("/hook"))
            emit(api, [("traceparent", TRACEPARENT)])
            receiver.wait_for(1, "/hook")
    finally:
        server.stop()  # the lifespan's end exports what is queued
        database.close()
    exported = [ExportTraceServiceRequest.FromString(request.body) for request in receiver.to("/v1/traces")]
    assert {request.headers["content-type"] for request in receiver.to("/v1/traces")} == {"application/x-protobuf"}
    spans = [span for request in exported for resource in request.resource_spans
             for scope in resource.scope_spans for span in scope.spans]
    assert {span.name for span in spans} >= {"hookline.emit", "hookline.claim", "hookline.attempt"}
    attempt = next(span for span in spans if span.name == "hookline.attempt")
    assert attempt.trace_id.hex() == TRACE and attempt.parent_span_id.hex() == TRACEPARENT[36:52]
    assert receiver.to("/hook")[0].headers["traceparent"] == f"00-{TRACE}-{attempt.span_id.hex()}-01"
    (service,) = {attribute.value.string_value for request in exported for resource in request.resource_spans
                  for attribute in resource.resource.attributes if attribute.key == "service.name"}
    assert service == "hookline"
