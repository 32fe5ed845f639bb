"""The form's "Events to send" (app/web/event_choice.py): the answer and the ticks as patterns,
a stored subscription as the answer to show, and the catalog as the form's two parts."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.rules.errors import InvalidInput
from app.web.event_choice import NOTHING_TICKED, EventGroup, choice_of, event_groups, shown_choice, subscription


@pytest.mark.parametrize(("choice", "ticked", "patterns"), [
    ("all", [], ["*"]),
    # `*` does not cover the operational ones: ticked, they are added to it.
    ("all", ["webhook.disabled", "delivery.*"], ["*", "webhook.disabled", "delivery.*"]),
    # Boxes ticked before choosing All (without JavaScript they stay usable) are in `*` already.
    ("all", ["order.created", "webhook.failing", "order.*"], ["*", "webhook.failing"]),
    ("selected", ["order.created"], ["order.created"]),
    ("selected", ["order.*", "order.created", "webhook.disabled"], ["order.*", "order.created", "webhook.disabled"]),
    # No choice sent (a page opened before the choice existed, a script): the boxes say it.
    (None, ["*", "order.created", "webhook.disabled"], ["*", "webhook.disabled"]),
    (None, ["order.paid"], ["order.paid"]),
])
def test_the_answer_and_the_ticks_are_the_patterns(choice, ticked, patterns):
    assert subscription(choice, ticked) == patterns


@pytest.mark.parametrize(("choice", "ticked", "message"), [
    ("selected", [], NOTHING_TICKED),
    (None, [], NOTHING_TICKED),
    ("everything", ["order.created"], "choose All events or Select events"),
])
def test_a_choice_that_asks_for_nothing_names_the_events_field(choice, ticked, message):
    with pytest.raises(InvalidInput) as raised:
        subscription(choice, ticked)
    assert (raised.value.field, raised.value.message) == ("events", f"events: {message}")
    assert "All events" in NOTHING_TICKED, "the message says the other way out"


@pytest.mark.parametrize(("patterns", "choice"), [
    (["*"], "all"),
    (["*", "webhook.disabled"], "all"),
    (["order.created"], "selected"),
    (["order.*"], "selected"),
    (["webhook.disabled"], "selected"),
])
def test_a_stored_subscription_opens_on_its_answer(patterns, choice):
    assert choice_of(patterns) == choice


@pytest.mark.parametrize(("sent", "ticked", "shown"), [
    ("selected", [], "selected"),  # the error is shown with the answer that caused it
    ("all", ["order.created"], "all"),
    (None, ["order.created"], "selected"),
    ("bogus", ["*"], "all"),
])
def test_a_form_sent_back_shows_the_answer_sent(sent, ticked, shown):
    assert shown_choice(sent, ticked) == shown


@dataclass(frozen=True)
class Type:
    name: str
    description: str = ""


def names(groups: list[EventGroup]) -> list[tuple[str, str | None, list[str]]]:
    return [(g.family, g.pattern, [t.name for t in g.types]) for g in groups]


def test_the_catalog_splits_into_the_list_and_the_operational_part():
    catalog = [Type(n) for n in ("user.signed_up", "order.created", "webhook.disabled", "order.paid",
                                 "delivery.exhausted", "webhook.created")]
    listed, operational = event_groups(catalog)
    assert names(listed) == [
        ("order", "order.*", ["order.created", "order.paid"]),
        ("user", "user.*", ["user.signed_up"]),
        # A tenant's own type in an operational family: listed, but `webhook.*` would bring
        # operational events too, so it sits with them.
        ("webhook", None, ["webhook.created"]),
    ]
    assert names(operational) == [
        ("delivery", "delivery.*", ["delivery.exhausted"]),
        ("webhook", "webhook.*", ["webhook.disabled"]),
    ]


def test_an_empty_catalog_has_no_groups():
    assert event_groups([]) == ([], [])
