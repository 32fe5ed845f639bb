"""The webhook form's Advanced section and the rotate action, over real HTTP, read with bs4."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.storage.models import Webhook
from app.web.templating import exact_time
from tests.helpers import create_in_dashboard, only_webhook, soup

ADVANCED = {
    "filter": '{"all": [{"path": "data.total", "op": "gte", "value": 100}]}',
    "timeout": "2.5",
    "retry_schedule": "0, 5s 5m, 2h",
    "rate_limit": "20",
    "max_in_flight": "4",
    "ordered": "1",
    "payload_format": "discord",
    "payload_template": '{"content": {{ event.type | tojson }}}',
}


def test_advanced_section_is_closed_by_default_and_every_field_is_labelled(dashboard):
    page = soup(dashboard.get("/webhooks/new"))
    details = page.select_one("form details#wh-advanced")
    assert not details.has_attr("open")
    names = {f["name"] for f in details.select("input, select, textarea")}
    assert names == {"filter", "timeout", "retry_schedule", "rate_limit", "max_in_flight", "ordered", "payload_format", "payload_template"}
    assert json.loads(details.select_one("#wh-filter")["placeholder"])["all"], "the placeholder is a working example"
    assert [o["value"] for o in details.select("#wh-payload-format option")] == ["standard", "slack", "discord", "teams"]
    assert details.select_one("#wh-payload-format option[selected]")["value"] == "standard"
    for field in details.select("input, textarea, select"):
        assert field.find_parent("label") or page.select_one(f"label[for='{field.get('id')}']"), field


def test_create_with_advanced_fields_stores_them_and_edit_shows_them(dashboard):
    assert create_in_dashboard(dashboard, **ADVANCED).status_code == 201
    webhook = only_webhook()
    assert webhook.filter == {"all": [{"path": "data.total", "op": "gte", "value": 100}]}
    assert (webhook.timeout, webhook.retry_schedule, webhook.rate_limit, webhook.max_in_flight) == (2.5, [0, 5, 300, 7200], 20, 4)
    assert (webhook.ordered, webhook.payload_format, webhook.payload_template) == (True, "discord", ADVANCED["payload_template"])

    page = soup(dashboard.get(f"/webhooks/{webhook.id}/edit"))
    assert page.select_one("#wh-advanced").has_attr("open"), "customised settings are not hidden"
    assert json.loads(page.select_one("#wh-filter").text) == webhook.filter
    assert page.select_one("#wh-retry-schedule")["value"] == "0s, 5s, 5m, 2h"
    assert (page.select_one("#wh-timeout")["value"], page.select_one("#wh-max-in-flight")["value"]) == ("2.5", "4")
    assert page.select_one("input[name=ordered]").has_attr("checked")
    assert page.select_one("#wh-payload-format option[selected]")["value"] == "discord"
    assert page.select_one("#wh-payload-template").text == ADVANCED["payload_template"]


def test_emptying_the_fields_restores_the_defaults(dashboard):
    create_in_dashboard(dashboard, **ADVANCED)
    webhook = only_webhook()
    form = {"name": "Billing", "url": webhook.url, "events": "*", "payload_format": "standard"}
    assert dashboard.post(f"/webhooks/{webhook.id}/edit", form).status_code == 303
    webhook = only_webhook()
    assert [webhook.filter, webhook.timeout, webhook.retry_schedule, webhook.rate_limit, webhook.max_in_flight,
            webhook.payload_template, webhook.ordered, webhook.payload_format] == [None] * 6 + [False, "standard"]


@pytest.mark.parametrize(
    "field, value, error_id, phrase",
    [
        ("filter", "{all: []}", "wh-filter-error", "Filter: not valid JSON"),
        ("filter", '{"all": [{"path": "data.x", "op": "eq", "value": 1}, {"path": "data.y", "op": "like", "value": 1}]}',
         "wh-filter-error", "rules[1].op: unknown operator 'like'"),
        ("timeout", "90", "wh-timeout-error", "from 0.1 to 29"),
        ("retry_schedule", "5s, forever", "wh-retry-schedule-error", "[1] 'forever' is not a duration"),
        ("rate_limit", "fast", "wh-rate-limit-error", "must be a number"),
        ("max_in_flight", "1.5", "wh-max-in-flight-error", "must be a whole number"),
        ("payload_format", "xml", "wh-payload-format-error", "must be one of"),
        ("payload_template", '{\n "text": {{ event.type | tojson }\n}', "wh-payload-template-error", "line 2: unexpected '}'"),
        ("payload_template", '{"text": {{ event.type }}}', "wh-payload-template-error", "the output is not JSON"),
    ],
)
def test_invalid_advanced_fields_are_shown_inline_with_the_form_kept(dashboard, field, value, error_id, phrase):
    response = create_in_dashboard(dashboard, htmx=True, **{**ADVANCED, field: value})
    assert response.status_code == 422
    page = soup(response)
    assert phrase in page.select_one(f"#{error_id}").text
    assert page.select_one("#wh-advanced").has_attr("open"), "the error is not hidden in a closed section"
    assert page.select_one(f"[name={field}]")["aria-invalid"] == "true"
    kept = page.select_one("#wh-payload-template").text if field != "payload_template" else page.select_one("#wh-filter").text
    assert kept in (ADVANCED["payload_template"], ADVANCED["filter"])
    assert not page.select_one(".form-error"), "no duplicate message at the top"
    assert Webhook.select().count() == 0


def test_rotate_keeps_the_old_secret_for_the_grace_and_says_until_when(dashboard, clock, settings):
    create_in_dashboard(dashboard)
    old = only_webhook().secret
    edit = soup(dashboard.get(f"/webhooks/{only_webhook().id}/edit"))
    assert [o["value"] for o in edit.select("#rotate-grace option")] == ["", "3600", "604800", "0"]

    page = soup(dashboard.post(f"/webhooks/{only_webhook().id}/rotate-secret", {"grace_seconds": ""}))
    webhook = only_webhook()
    assert page.select_one("#signing-secret")["value"] == webhook.secret != old
    assert webhook.previous_secret == old
    until = clock.now + timedelta(seconds=settings.secret_rotation_grace)
    assert exact_time(until) in page.select_one("#rotation-grace").text
    assert old not in page.text, "the old secret is never shown again"

    page = soup(dashboard.post(f"/webhooks/{webhook.id}/rotate-secret", {"grace_seconds": "0"}, htmx=True))
    assert "no longer signs" in page.select_one("#rotation-grace").text
    assert only_webhook().previous_secret is None
