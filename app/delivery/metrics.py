"""Prometheus metrics: counters this process increments, gauges read from the database.

Counters and the latency histogram count what this process did (events it accepted,
attempts it recorded), so each process that sends must be scraped: `hookline serve` at
GET /metrics, `hookline worker --metrics-port`. The queue gauges are read from the
database at scrape time and describe the whole installation, whichever process answers.

Each app and worker has its own `CollectorRegistry`, not prometheus_client's global one:
tests build many apps in one process, and a registry refuses a second metric of a name.
Events accepted carry no label: event types are bounded by the catalog only until
`auto_register_event_types` is on, and a tenant label would grow with every customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import peewee
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.rules.clock import Clock, system_clock
from app.storage.models import DELIVERING, FAILED, PENDING, SUCCEEDED, Delivery, MailNotice, Webhook

# No `*_created` series next to each counter: the text format turns them into extra
# series that dashboards do not use (the library's switch is process-wide).
disable_created_metrics()

# Statuses that record_results returns, as attempt outcomes. "unrecorded" (the database
# refused the write; the dispatcher logs it) is no outcome: the attempt is made again.
OUTCOMES = {SUCCEEDED: "succeeded", FAILED: "failed", PENDING: "retry"}
# Up to request_timeout's default (10 s) and beyond, for receivers given a longer one.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self, clock: Clock = system_clock):
        self.registry = CollectorRegistry()
        self._events = Counter(
            "hookline_events_accepted", "Events accepted by POST /api/v1/events (idempotent replays not counted)",
            registry=self.registry,
        )
        self._attempts = Counter(
            "hookline_deliveries",
            "Delivery attempts recorded, by outcome: succeeded, failed (for good) or retry (another attempt scheduled)",
            ["outcome"], registry=self.registry,
        )
        for outcome in OUTCOMES.values():
            self._attempts.labels(outcome=outcome)  # every outcome shows from the start, at 0
        self._duration = Histogram(
            "hookline_attempt_duration_seconds", "Time from sending a delivery's request to its response",
            buckets=DURATION_BUCKETS, registry=self.registry,
        )
        self._probes_missed = Counter(
            "hookline_wakeup_probes_missed",
            "Probes sent like an emit's wake-up that this process's LISTEN connection never received: wake-ups "
            "between processes do not arrive (a pooler in transaction mode? set database_direct_url)",
            registry=self.registry,
        )
        self._mail_sent = Counter("hookline_mail_sent", "Mails to tenants' owners handed to the SMTP server",
                                  registry=self.registry)
        self._mail_failures = Counter(
            "hookline_mail_failures", "Mails to tenants' owners the SMTP server refused or could not be reached for"
            " (each is tried again later)", registry=self.registry,
        )
        self.registry.register(QueueCollector(clock))
        self.registry.register(MailCollector())

    def events_accepted(self, count: int) -> None:
        """`count` new events; an idempotent replay is none."""
        self._events.inc(count)

    def wakeup_probe_missed(self) -> None:
        self._probes_missed.inc()

    def attempt_recorded(self, status: str, seconds: float) -> None:
        outcome = OUTCOMES.get(status)
        if outcome is not None:
            self._attempts.labels(outcome=outcome).inc()
            self._duration.observe(seconds)

    def mail_sent(self, sent: int, failed: int) -> None:
        """One run of the mail job (app/services/notifications.py)."""
        self._mail_sent.inc(sent)
        self._mail_failures.inc(failed)

    def exposition(self) -> bytes:
        """The text format; reads the database, so call it from a thread."""
        return generate_latest(self.registry)


@dataclass(frozen=True)
class QueueGauges:
    depth: int
    oldest_due_age: float
    in_flight: int
    webhooks_disabled: int


def queue_gauges(now: datetime) -> QueueGauges:
    """Three indexed queries: the due rows through (status, next_attempt_at), in-flight
    ones through (status, lease_expires_at), and the (small) webhook table."""
    due = Delivery.sendable(now)
    oldest_due = peewee.fn.MIN(Delivery.next_attempt_at).python_value(Delivery.next_attempt_at.python_value)
    depth, oldest = due.select(peewee.fn.COUNT(Delivery.id), oldest_due).tuples().get()
    in_flight = Delivery.select().where((Delivery.status == DELIVERING) & (Delivery.lease_expires_at > now)).count()
    disabled = Webhook.select().where(Webhook.enabled == False).count()  # noqa: E712 - SQL, not Python
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    return QueueGauges(depth, age, in_flight, disabled)


class QueueCollector(Collector):
    """Gauges computed when Prometheus scrapes, so they are never stale."""

    def __init__(self, clock: Clock):
        self.clock = clock

    def describe(self):
        return []  # nothing to check at registration, and no query before the database is open

    def collect(self):
        gauges = queue_gauges(self.clock())
        for name, documentation, value in (
            ("hookline_queue_depth", "Deliveries due now and waiting for a sender", gauges.depth),
            ("hookline_queue_oldest_due_age_seconds", "How long the oldest due delivery has waited (0 when none)",
             gauges.oldest_due_age),
            ("hookline_deliveries_in_flight", "Deliveries being sent now by any process (claimed, lease running)",
             gauges.in_flight),
            ("hookline_webhooks_disabled", "Webhooks that are disabled (by hand, after 410 Gone, or automatically)",
             gauges.webhooks_disabled),
        ):
            yield GaugeMetricFamily(name, documentation, value=value)


class MailCollector(Collector):
    """The owners' mail waiting, read when Prometheus scrapes: notices queue in every
    process that records attempts and any process may send them, so only the database
    knows. A failing count above 0 means the SMTP server is refusing or unreachable."""

    def describe(self):
        return []

    def collect(self):
        pending = MailNotice.select().where(MailNotice.status == PENDING)
        for name, documentation, value in (
            ("hookline_mail_pending", "Notices for tenants' owners not mailed yet (due, waiting for the hourly"
             " limit, or retrying)", pending.count()),
            ("hookline_mail_failing", "Notices whose last send failed and that wait for a retry",
             pending.where(MailNotice.last_error.is_null(False)).count()),
        ):
            yield GaugeMetricFamily(name, documentation, value=value)
