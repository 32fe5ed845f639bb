"""Per-webhook options over the API: secret rotation, payload filters, delivery overrides."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.rules.clock import system_clock
from app.storage.models import Delivery, Event, Webhook
from tests.helpers import ADMIN, create_webhook, emit_over_api, serving

# --- secret rotation ---------------------------------------------------------------------------


def rotate(api, webhook_id, headers=ADMIN, **body):
    return api.post(f"/api/v1/webhooks/{webhook_id}/rotate-secret", json=body or None, headers=headers)


def test_rotation_returns_the_new_secret_once_and_keeps_the_old_one_for_the_grace(api, clock, settings):
    webhook = create_webhook(api)
    clock.advance(60)
    response = rotate(api, webhook["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != webhook["secret"]
    expires = clock.now + timedelta(seconds=settings.secret_rotation_grace)
    assert body["previous_secret_expires_at"] == expires.isoformat().replace("+00:00", "Z")

    stored = Webhook.get_by_id(webhook["id"])
    assert (stored.secret, stored.previous_secret) == (body["secret"], webhook["secret"])
    shown = api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN)
    assert shown.json()["previous_secret_expires_at"] == body["previous_secret_expires_at"]
    assert "secret" not in shown.json()
    assert body["secret"] not in shown.text and webhook["secret"] not in shown.text


def test_rotating_again_keeps_only_the_immediately_previous_secret(api, clock):
    webhook = create_webhook(api)
    second = rotate(api, webhook["id"], grace_seconds=3600).json()["secret"]
    clock.advance(600)
    third = rotate(api, webhook["id"], grace_seconds=3600).json()
    stored = Webhook.get_by_id(webhook["id"])
    assert (stored.secret, stored.previous_secret) == (third["secret"], second)
    assert stored.previous_secret_expires_at == clock.now + timedelta(seconds=3600)


def test_zero_grace_invalidates_the_old_secret_at_once(api):
    webhook = create_webhook(api)
    body = rotate(api, webhook["id"], grace_seconds=0).json()
    assert body["previous_secret_expires_at"] is None
    stored = Webhook.get_by_id(webhook["id"])
    assert (stored.secret, stored.previous_secret, stored.previous_secret_expires_at) == (body["secret"], None, None)


@pytest.mark.parametrize(
    "body, field",
    [({"grace_seconds": -1}, "grace_seconds"), ({"grace_seconds": 7 * 86400 + 1}, "grace_seconds"),
     ({"grace_seconds": "1h"}, "grace_seconds"), ({"grace_seconds": True}, "grace_seconds"), ({"grace": 5}, "grace")],
)
def test_invalid_rotation_is_422_and_keeps_the_secret(api, body, field):
    webhook = create_webhook(api)
    response = rotate(api, webhook["id"], **body)
    assert response.status_code == 422 and response.json()["error"]["field"] == field
    assert Webhook.get_by_id(webhook["id"]).secret == webhook["secret"]


def test_another_tenant_cannot_rotate(api, tenant_key, other_tenant_key):
    webhook = create_webhook(api, key=tenant_key)
    assert rotate(api, webhook["id"], headers=other_tenant_key).status_code == 404
    assert rotate(api, webhook["id"], headers=tenant_key).status_code == 200


# --- per-webhook settings ------------------------------------------------------------------------


def test_options_are_stored_normalised_shown_and_reset_with_null(api):
    options = {
        "timeout": 2.5, "retry_schedule": [0, "5s", "5m", "2h", 30], "rate_limit": 0.5, "max_in_flight": 3,
        "ordered": True, "payload_format": "slack", "payload_template": '{"text": {{ event.type | tojson }}}',
        "filter": {"all": [{"path": "data.total", "op": "gte", "value": 100}, {"path": "data.vip", "op": "exists"}]},
    }
    webhook = create_webhook(api, **options)
    expected = {**options, "retry_schedule": [0.0, 5.0, 300.0, 7200.0, 30.0],
                "filter": {"all": [{"path": "data.total", "op": "gte", "value": 100},
                                   {"path": "data.vip", "op": "exists", "value": True}]}}
    assert {key: webhook[key] for key in options} == expected
    assert api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).json()["retry_schedule"] == expected["retry_schedule"]

    reset = {key: None for key in ("timeout", "retry_schedule", "rate_limit", "max_in_flight", "payload_template", "filter")}
    body = api.patch(f"/api/v1/webhooks/{webhook['id']}", json={**reset, "ordered": False}, headers=ADMIN).json()
    assert {key: body[key] for key in reset} == reset and body["ordered"] is False
    assert body["payload_format"] == "slack", "untouched by the patch"


def test_defaults_are_null_standard_and_unordered(api):
    webhook = create_webhook(api)
    assert [webhook[k] for k in ("timeout", "retry_schedule", "rate_limit", "max_in_flight", "filter", "payload_template")] == [None] * 6
    assert (webhook["ordered"], webhook["payload_format"], webhook["previous_secret_expires_at"]) == (False, "standard", None)


@pytest.mark.parametrize(
    "fields, field, phrase",
    [
        # below lease_seconds (30 in the test settings), or a slow send would be claimed twice
        ({"timeout": 0.05}, "timeout", "from 0.1 to 29"),
        ({"timeout": 29.5}, "timeout", "from 0.1 to 29"),
        ({"timeout": 61}, "timeout", "from 0.1 to 29"),
        ({"timeout": "2m"}, "timeout", "from 0.1 to 29"),
        ({"timeout": "soon"}, "timeout", "'soon' is not a duration"),
        ({"timeout": True}, "timeout", "number of seconds"),
        ({"retry_schedule": []}, "retry_schedule", "list of 1 to 20"),
        ({"retry_schedule": "5s"}, "retry_schedule", "list of 1 to 20"),
        ({"retry_schedule": [1] * 21}, "retry_schedule", "list of 1 to 20"),
        ({"retry_schedule": [0, "8d"]}, "retry_schedule", "[1] '8d' is longer than 7 days"),
        ({"retry_schedule": [0, "later"]}, "retry_schedule", "[1] 'later' is not a duration"),
        ({"retry_schedule": [-5]}, "retry_schedule", "[0] must be a finite, non-negative duration"),
        ({"rate_limit": 0}, "rate_limit", "deliveries per second from 0.1 to 10000"),
        ({"rate_limit": 10001}, "rate_limit", "from 0.1 to 10000"),
        ({"rate_limit": "5"}, "rate_limit", "deliveries per second"),
        ({"max_in_flight": 0}, "max_in_flight", "from 1 to 1000"),
        ({"max_in_flight": 1001}, "max_in_flight", "from 1 to 1000"),
        ({"max_in_flight": 2.5}, "max_in_flight", "whole number"),
        ({"ordered": "yes"}, "ordered", "true or false"),
        ({"payload_format": "xml"}, "payload_format", "one of standard, slack, discord, teams"),
        ({"payload_template": "{{ event.type "}, "payload_template", "line 1: unexpected end of template"),
        ({"payload_template": '{\n  "text": {{ event.type | tojson }\n}'}, "payload_template", "line 2: unexpected '}'"),
        ({"payload_template": '{"text": {{ event.type }}}'}, "payload_template", "the output is not JSON"),
        ({"payload_template": "{{ ''.__class__.__mro__ }}"}, "payload_template", "unsafe"),
        ({"payload_template": 5}, "payload_template", "must be text"),
        ({"filter": {"all": [{"path": "data.total", "op": "gt", "value": 1}, {"path": "data.x", "op": "like", "value": 1}]}},
         "filter", "rules[1].op: unknown operator 'like'"),
        ({"filter": {"all": [{"path": "total", "op": "gt", "value": 1}]}}, "filter", "rules[0].path: 'total' must start with"),
        ({"filter": ["data.x"]}, "filter", "a group must be an object"),
    ],
)
def test_invalid_options_are_422_naming_the_field(api, fields, field, phrase):
    response = api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", **fields}, headers=ADMIN)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and phrase in error["message"], error
    assert Webhook.select().count() == 0

    webhook = create_webhook(api)
    patched = api.patch(f"/api/v1/webhooks/{webhook['id']}", json=fields, headers=ADMIN)
    assert patched.status_code == 422 and patched.json()["error"]["field"] == field
    webhook.pop("secret")
    assert api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).json() == webhook, "nothing changed"
    Webhook.delete().execute()


def test_a_template_is_checked_against_the_subscribed_types_example(api):
    from app.storage.models import EventType

    EventType.update(example={"order": {"total": 5}}).where(EventType.name == "order.paid").execute()
    template = '{"text": {{ ("Total " ~ event.data.order.total) | tojson }}}'
    assert create_webhook(api, events=["order.paid"], payload_format="discord", payload_template=template)
    # a family subscription is checked against a matching type's example too
    assert create_webhook(api, events=["order.*"], payload_template=template)
    # the sample event has no `order`: attribute access on an undefined value fails the check
    refused = api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["user.signed_up"],
                                                  "payload_template": template}, headers=ADMIN)
    assert refused.status_code == 422 and "has no attribute 'order'" in refused.json()["error"]["message"]


# --- filters decide deliveries --------------------------------------------------------------------


def test_wildcards_and_payload_rules_decide_the_deliveries(api):
    big = create_webhook(api, events=["order.*"], filter={"all": [{"path": "data.total", "op": "gt", "value": 100}]})
    eu_or_vip = create_webhook(api, events=["*"], filter={"any": [
        {"path": "data.country", "op": "in", "value": ["DE", "FR"]}, {"path": "data.vip", "op": "eq", "value": True}]})
    everything = create_webhook(api, events=["*"])
    for data, type_name in [({"total": 500, "country": "US"}, "order.created"), ({"total": 50, "country": "DE"}, "order.paid"),
                            ({"vip": True}, "user.signed_up"), ([1, 2], "order.created"), ("text", "user.signed_up")]:
        api.post("/api/v1/events", json={"type": type_name, "data": data}, headers=ADMIN)
    counts = {w["id"]: Delivery.select().where(Delivery.webhook == w["id"]).count() for w in (big, eu_or_vip, everything)}
    assert counts == {big["id"]: 1, eu_or_vip["id"]: 2, everything["id"]: 5}


@pytest.mark.parametrize("data", [None, "text", 42, 1.5, True, False, [1, {"a": None}], {"nested": {"x": [1]}}])
def test_event_data_may_be_any_json_value(api, data):
    webhook = create_webhook(api, events=["order.*"], filter={"any": [{"path": "data", "op": "exists"}]})
    response = api.post("/api/v1/events", json={"type": "order.created", "data": data}, headers=ADMIN)
    assert response.status_code == 202 and response.json()["deliveries"] == 1
    (delivery,) = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]
    assert api.get(f"/api/v1/deliveries/{delivery['id']}", headers=ADMIN).json()["payload"]["data"] == data


def test_a_form_posted_event_may_carry_any_json_value(api):
    create_webhook(api)
    for text, expected in [("null", None), ('"hi"', "hi"), ("7", 7), ("[1]", [1])]:
        response = api.post("/api/v1/events", data={"type": "order.created", "data": text}, headers=ADMIN)
        assert response.status_code == 202
        assert json.loads(Event.get_by_id(response.json()["id"]).data) == expected


def test_emit_reports_only_the_deliveries_it_created(api):
    create_webhook(api, filter={"all": [{"path": "data.n", "op": "eq", "value": 2}]})
    first = api.post("/api/v1/events", json={"type": "order.created", "data": {"n": 1}}, headers=ADMIN)
    second = api.post("/api/v1/events", json={"type": "order.created", "data": {"n": 2}}, headers=ADMIN)
    assert (first.json()["deliveries"], second.json()["deliveries"]) == (0, 1)


def test_a_test_event_ignores_the_filter(api):
    webhook = create_webhook(api, filter={"all": [{"path": "type", "op": "eq", "value": "never"}]})
    assert api.post(f"/api/v1/webhooks/{webhook['id']}/test", headers=ADMIN).status_code in (200, 202)
    assert Delivery.select().count() == 1


@pytest.fixture
def live(settings):
    with serving(settings, system_clock, run_sender=True) as client:
        yield client


def test_the_receiver_gets_only_the_matching_events(live, receiver):
    create_webhook(live, url=receiver.url("/big"), events=["order.*"],
                   filter={"all": [{"path": "data.items.0.sku", "op": "eq", "value": "A-1"},
                                   {"path": "data.total", "op": "gte", "value": 100}]})
    create_webhook(live, url=receiver.url("/users"), events=["user.*"])
    sent = [("order.created", {"total": 100, "items": [{"sku": "A-1"}]}), ("order.created", {"total": 99, "items": [{"sku": "A-1"}]}),
            ("order.paid", {"total": 300, "items": [{"sku": "B-2"}]}), ("order.paid", {"total": 250, "items": [{"sku": "A-1"}]}),
            ("user.signed_up", {"total": 1000, "items": [{"sku": "A-1"}]}), ("order.paid", "no object at all")]
    ids = [emit_over_api(live, type_name=t, data=d) for t, d in sent]
    receiver.wait_for(3)
    assert Delivery.select().count() == 3, "filtered-out events created no deliveries to send later"
    assert [json.loads(r.body)["id"] for r in receiver.to("/big")] in ([ids[0], ids[3]], [ids[3], ids[0]])
    assert [json.loads(r.body)["id"] for r in receiver.to("/users")] == [ids[4]]

