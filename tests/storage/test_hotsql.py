"""app/storage/hotsql.py: statements with SQL built once must store exactly what Peewee stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import peewee
import pytest

from app.services.events import emit_event
from app.storage import hotsql
from app.storage.models import DELIVERING, PENDING, SUCCEEDED, Attempt, Delivery, Event, Tenant, Webhook
from tests.helpers import make_webhook


def test_inserted_rows_read_back_like_peewee_wrote_them(db, settings, clock):
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook")
    event_id = emit_event(Tenant.get(), "order.created", {"n": 1}, settings, clock()).event_id
    delivery = Delivery.get(Delivery.event == event_id)
    started = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    hotsql.insert(
        (Attempt.delivery, Attempt.number, Attempt.started_at, Attempt.duration_ms, Attempt.request_headers,
         Attempt.response_status, Attempt.response_body, Attempt.error),
        [(delivery.id, 1, started, 7, {"webhook-id": event_id}, None, None, "connection refused")],
    )
    Attempt.create(delivery=delivery.id, number=2, started_at=started, duration_ms=7,
                   request_headers={"webhook-id": event_id}, error="connection refused")
    ours, peewees = Attempt.select().order_by(Attempt.number).tuples()
    assert ours[1:3] == (delivery.id, 1)
    assert ours[3:] == peewees[3:]  # all but the id, the delivery and the number
    assert ours[3] == started and ours[3].tzinfo is not None
    # Defaults fill what was left out: the delivery row made at emit is pending, attempts 0.
    assert (delivery.status, delivery.attempts, delivery.webhook_id) == (PENDING, 0, webhook.id)
    assert Event.get_by_id(event_id).data == '{"n":1}'


def test_update_returns_only_the_rows_that_passed_the_guard(db, settings, clock):
    make_webhook(settings, clock, "http://127.0.0.1:9/hook")
    ids = [Delivery.get(Delivery.event == emit_event(Tenant.get(), "order.created", {}, settings, clock()).event_id).id
           for _ in range(3)]
    lease = clock() + timedelta(seconds=30)
    Delivery.update(status=DELIVERING, lease_expires_at=lease).where(Delivery.id.in_(ids[:2])).execute()
    fields, guard = (Delivery.status, Delivery.lease_expires_at), (Delivery.status, Delivery.lease_expires_at)

    assert hotsql.update(fields, guard, (SUCCEEDED, None, DELIVERING, lease + timedelta(seconds=1)), Delivery.id, ids) == set()
    assert hotsql.update(fields, guard, (SUCCEEDED, None, DELIVERING, lease), Delivery.id, ids) == set(ids[:2])
    rows = {d.id: (d.status, d.lease_expires_at) for d in Delivery.select()}
    assert rows == {ids[0]: (SUCCEEDED, None), ids[1]: (SUCCEEDED, None), ids[2]: (PENDING, None)}


def test_a_constraint_violation_is_peewees_integrity_error(db, settings, clock):
    """Callers (idempotent emit on PostgreSQL) catch peewee.IntegrityError, not the driver's."""
    fields = (Event.id, Event.tenant, Event.type, Event.data, Event.created_at)
    row = ("evt_same", Tenant.get().id, "order.created", "{}", clock())
    hotsql.insert(fields, [row])
    with pytest.raises(peewee.IntegrityError):
        hotsql.insert(fields, [row])


def test_select_reads_rows_like_peewee_and_refuses_a_query_it_cannot_reuse(db, settings, clock):
    make_webhook(settings, clock, "http://127.0.0.1:9/hook", events=["order.*"])

    def receivers(tenant_id):
        return Webhook.enabled_for(tenant_id).select(Webhook.id, Webhook.events, Webhook.filter)

    default = Tenant.get(Tenant.slug == "default")
    other = Tenant.create(slug="other", created_at=clock())
    for tenant in (default, other, default):  # the second and third runs reuse the first one's SQL
        ours = [(w.id, w.events, w.filter) for w in hotsql.select(receivers, tenant.id)]
        assert ours == [(w.id, w.events, w.filter) for w in receivers(tenant.id)]
    assert hotsql.select(receivers, default.id)[0].events == ["order.*"]

    def since(at):
        return Tenant.select().where(Tenant.created_at >= at)

    with pytest.raises(ValueError, match="parameters"):
        hotsql.select(since, clock())  # a datetime reaches the SQL converted, not as given
