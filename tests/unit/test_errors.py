"""The one unknown-field check: the same field named, whatever order the client sent."""

from __future__ import annotations

import pytest

from app.rules.errors import InvalidInput, first_unknown, reject_unknown


@pytest.mark.parametrize(
    ("fields", "unknown"),
    [({}, None), ({"type": 1}, None), ({"type": 1, "zeta": 2, "alpha": 3}, "alpha"), (["zeta", "beta"], "beta")],
)
def test_first_unknown_is_the_first_in_sorted_order(fields, unknown):
    assert first_unknown(fields, {"type", "data"}) == unknown


@pytest.mark.parametrize("order", [["colour", "size"], ["size", "colour"]])
def test_reject_unknown_names_the_field_and_lists_the_allowed_ones_sorted(order):
    with pytest.raises(InvalidInput) as caught:
        reject_unknown(dict.fromkeys(order + ["type"]), ("type", "data", "event"), prefix="events[2].")
    assert caught.value.field == "events[2].colour"
    assert caught.value.message == "events[2].colour: unknown field (allowed: data, event, type)"


def test_reject_unknown_accepts_allowed_fields():
    reject_unknown({"type": "order.paid", "data": {}}, {"type", "data"})
