"""The webhook form's "Events to send" without JavaScript (issue 16, defect 3): an explicit
"All events" / "Select events" answer, posted as a plain form; the server turns it into the
subscription, points out a "Select events" with nothing ticked, and shows the answer and
the ticks again after an error and on edit. The browser side is tests/e2e/test_event_choice_browser.py."""

from __future__ import annotations

import pytest

from app.storage.models import Webhook
from tests.helpers import create_in_dashboard, only_webhook, soup

OPERATIONAL = {"webhook.*", "delivery.*", "delivery.exhausted", "webhook.disabled", "webhook.failing",
               "webhook.recovered", "webhook.secret_rotated"}


def chosen(page) -> str:
    (radio,) = page.select("input[name=event_choice][checked]")
    return radio["value"]


def ticked(page) -> set[str]:
    return {box["value"] for box in page.select("input[name=events][checked]")}


def test_a_new_webhook_asks_all_or_select_with_all_chosen(dashboard):
    page = soup(dashboard.get("/webhooks/new"))
    choices = {radio["value"]: radio.find_parent("label").text for radio in page.select("#wh-events input[name=event_choice]")}
    assert set(choices) == {"all", "selected"}
    assert "including types added later" in choices["all"] and "Select events" in choices["selected"]
    assert chosen(page) == "all" and ticked(page) == set()
    listed = {box["value"] for box in page.select("#wh-event-list input[name=events]")}
    assert {"order.*", "order.created", "order.paid", "user.signed_up"} <= listed and not listed & OPERATIONAL
    operational = page.select_one(".event-operational")
    assert "Also send Hookline's operational events" in operational.text
    assert {box["value"] for box in operational.select("input[name=events]")} == OPERATIONAL
    assert not page.select("input[name=events][value='*']"), "All is the radio's answer, not a box"
    assert page.select_one("#wh-events-filter").find_parent(class_="event-search").has_attr("hidden"), \
        "the filter needs JavaScript: without it, it is not shown"


@pytest.mark.parametrize(("fields", "events"), [
    ({"event_choice": "all"}, ["*"]),
    # The list's boxes are in `*`; the operational ones are not and are kept.
    ({"event_choice": "all", "events": ["order.created", "webhook.disabled"]}, ["*", "webhook.disabled"]),
    ({"event_choice": "selected", "events": ["order.created"]}, ["order.created"]),
    ({"event_choice": "selected", "events": ["order.*", "delivery.exhausted"]}, ["order.*", "delivery.exhausted"]),
])
def test_the_answer_and_ticks_make_the_subscription(dashboard, fields, events):
    created = dashboard.post("/webhooks", {"name": "Billing", "url": "http://127.0.0.1:9/hook", **fields})
    assert created.status_code == 201, created.text
    assert only_webhook().events == events


def test_select_with_nothing_ticked_is_an_error_by_the_events(dashboard):
    for htmx in (False, True):
        response = dashboard.post("/webhooks", {"name": "Billing", "url": "http://127.0.0.1:9/hook",
                                                "event_choice": "selected"}, htmx=htmx)
        assert response.status_code == 422
        page = soup(response)
        error = page.select_one("#wh-events #wh-events-error")
        assert error.text == "Events: tick at least one event type, or choose All events"
        assert page.select_one("#wh-events")["aria-describedby"] == "wh-events-error"
        assert page.select_one("#wh-events-filter")["aria-invalid"] == "true"
        assert chosen(page) == "selected", "the answer that caused it is shown"
        assert not page.select(".form-error"), "the message is by the field, not at the top"
    assert Webhook.select().count() == 0


@pytest.mark.parametrize(("fields", "choice", "boxes"), [
    ({"event_choice": "selected", "events": ["order.paid", "webhook.failing"]}, "selected", {"order.paid", "webhook.failing"}),
    ({"event_choice": "all", "events": ["webhook.disabled"]}, "all", {"webhook.disabled"}),
])
def test_another_error_shows_the_answer_and_ticks_again(dashboard, fields, choice, boxes):
    response = dashboard.post("/webhooks", {"name": "Billing", "url": "ftp://nope", **fields}, htmx=True)
    assert response.status_code == 422
    page = soup(response)
    assert page.select_one("#wh-url-error")
    assert (chosen(page), ticked(page)) == (choice, boxes)


@pytest.mark.parametrize(("events", "choice", "boxes"), [
    ("*", "all", set()),
    (["*", "webhook.disabled"], "all", {"webhook.disabled"}),
    (["order.created", "order.paid"], "selected", {"order.created", "order.paid"}),
])
def test_edit_opens_on_the_stored_answer(dashboard, events, choice, boxes):
    create_in_dashboard(dashboard, events=events)
    page = soup(dashboard.get(f"/webhooks/{only_webhook().id}/edit"))
    assert (chosen(page), ticked(page)) == (choice, boxes)


def test_edit_switches_from_all_to_selected(dashboard):
    create_in_dashboard(dashboard, events="*")
    webhook = only_webhook()
    saved = dashboard.post(f"/webhooks/{webhook.id}/edit", {"name": webhook.name, "url": webhook.url,
                                                           "event_choice": "selected", "events": ["user.signed_up"]})
    assert saved.status_code == 303
    assert only_webhook().events == ["user.signed_up"]
