"""Optional OpenTelemetry spans for emit, claim and attempt, exported over OTLP.

Off unless `otlp_endpoint` is set, and then only with the extra installed
(`pip install 'hookline[otel]'`): nothing here imports OpenTelemetry until `build_tracing`
finds the setting on, and the code it instruments holds `None` instead of a `Tracing`, so
an attempt pays one `is None` check when export is off.

What spans say: the webhook, the event's type and id, the delivery, the attempt number and
the outcome, never a payload, a header value or a secret. An emit or an attempt of an event
that came with a `traceparent` is a child of the producer's span; the `traceparent` an
attempt sends names the attempt's own span as its parent (`send_attempt(span_id=)`), so a
receiver that traces joins the same trace: producer -> Hookline's attempt -> receiver.
Claims serve many events at once and are spans of their own, outside the events' traces.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from app import __version__
from app.config import ConfigError, Settings
from app.delivery.types import AttemptResult, ClaimedDelivery
from app.rules.tracecontext import TraceContext

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

INSTALL_HINT = "pip install 'hookline[otel]'"


def check_installed(settings: Settings) -> None:
    """A set `otlp_endpoint` without the extra installed stops the start (ConfigError, which
    the CLI reports like any bad setting) with what to install."""
    if not settings.otlp_endpoint:
        return
    try:
        for module in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter"):
            importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"otlp_endpoint (HOOKLINE_OTLP_ENDPOINT) is set, but OpenTelemetry is not installed "
                          f"({exc.name} is missing): {INSTALL_HINT}, or unset otlp_endpoint") from None


def build_tracing(settings: Settings) -> Tracing | None:
    """The process's exporter, or None when `otlp_endpoint` is empty."""
    if not settings.otlp_endpoint:
        return None
    check_installed(settings)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "hookline", "service.version": __version__}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    return Tracing(provider)


class Tracing:
    """Makes the spans; one per process, shut down (flushed) when the process stops."""

    def __init__(self, provider: TracerProvider):
        from opentelemetry import trace

        self._provider = provider
        self._tracer = provider.get_tracer("hookline", __version__)
        self._api = trace
        self._client, self._server, self._internal = trace.SpanKind.CLIENT, trace.SpanKind.SERVER, trace.SpanKind.INTERNAL

    def shutdown(self) -> None:
        self._provider.shutdown()

    def _parent(self, traceparent: str | None, tracestate: str | None):
        """The producer's span as the parent context, or None (a new trace)."""
        if traceparent is None:
            return None
        api = self._api
        state = api.TraceState.from_header([tracestate]) if tracestate else None
        remote = api.SpanContext(int(traceparent[3:35], 16), int(traceparent[36:52], 16), is_remote=True,
                                 trace_flags=api.TraceFlags(int(traceparent[53:55], 16)), trace_state=state)
        return api.set_span_in_context(api.NonRecordingSpan(remote))

    def emitted(self, began_ns: int, events: Sequence[tuple[TraceContext | None, str, object]]) -> None:
        """One span per accepted event, `(its trace context, type, Emitted)` each, from
        `began_ns` (time.time_ns()) to now: a batch's events share the one transaction."""
        ended = time.time_ns()
        for trace, type_name, emitted in events:
            parent = self._parent(trace.traceparent, trace.tracestate) if trace else None
            span = self._tracer.start_span("hookline.emit", context=parent,
                                           kind=self._server, start_time=began_ns, attributes={
                                               "hookline.event.id": emitted.event_id,
                                               "hookline.event.type": type_name,
                                               "hookline.deliveries": emitted.deliveries,
                                               "hookline.outcome": "replayed" if emitted.replayed else "accepted",
                                           })
            span.end(ended)

    def claimed(self, began_ns: int, batch: Sequence[ClaimedDelivery]) -> None:
        """A span for a claim that took deliveries (empty sweeps, every tick, make none)."""
        span = self._tracer.start_span("hookline.claim", kind=self._internal, start_time=began_ns, attributes={
            "hookline.deliveries": len(batch),
            "hookline.webhooks": len({claimed.webhook_id for claimed in batch}),
        })
        span.end()

    async def attempt(self, claimed: ClaimedDelivery, send: Callable[[str], Awaitable[AttemptResult]]) -> AttemptResult:
        """`send(span_id)` inside the attempt's span: the id goes into the `traceparent` sent."""
        span = self._tracer.start_span("hookline.attempt", context=self._parent(claimed.traceparent, claimed.tracestate),
                                       kind=self._client, attributes={
                                           "hookline.webhook.id": claimed.webhook_id,
                                           "hookline.event.id": claimed.event_id,
                                           "hookline.event.type": claimed.event_type,
                                           "hookline.delivery.id": claimed.id,
                                           "hookline.attempt": claimed.attempts + 1,
                                       })
        try:
            result = await send(format(span.get_span_context().span_id, "016x"))
        except BaseException as exc:
            span.set_status(self._api.Status(self._api.StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        succeeded = result.status_code is not None and 200 <= result.status_code < 300
        span.set_attribute("hookline.outcome", "succeeded" if succeeded else "failed")
        if result.status_code is not None:
            span.set_attribute("http.response.status_code", result.status_code)
        if not succeeded:
            # The kind of failure, not the error text: that may quote the receiver's answer.
            reason = result.failure.value if result.failure else str(result.status_code)
            span.set_attribute("error.type", reason)
            span.set_status(self._api.Status(self._api.StatusCode.ERROR, reason))
        span.end()
        return result
