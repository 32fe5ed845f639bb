"""Payload filters (app/rules/filters.py): validation messages and matching, as tables."""

from __future__ import annotations

import pytest

from app.rules.errors import InvalidInput
from app.rules.filters import EXAMPLE, MAX_DEPTH, event_matches, same, validate_filter

EVENT = {
    "id": "evt_1",
    "type": "order.created",
    "timestamp": "2026-11-23T10:00:00.000000Z",
    "data": {
        "order": {"total": 150, "currency": "EUR", "country": "DE", "paid": True, "note": None, "price": 9.5},
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "tags": ["vip", "eu"],
    },
}


def rule(path, op, value=None, **extra):
    body = {"path": path, "op": op, **extra}
    if value is not None or op in ("eq", "neq"):
        body["value"] = value
    return {"all": [body]}


@pytest.mark.parametrize(
    "path, op, value, expected",
    [
        ("type", "eq", "order.created", True),
        ("type", "neq", "order.created", False),
        ("data.order.total", "gt", 100, True),
        ("data.order.total", "gt", 150, False),
        ("data.order.total", "gte", 150, True),
        ("data.order.total", "lt", 150.5, True),
        ("data.order.total", "lte", 149, False),
        ("data.order.price", "eq", 9.5, True),
        ("data.order.total", "eq", 150.0, True),  # JSON numbers: 150 is 150.0
        ("data.order.paid", "eq", True, True),
        ("data.order.paid", "eq", 1, False),  # true is not 1
        ("data.order.total", "eq", "150", False),  # nor is "150" 150
        ("data.order.note", "eq", None, True),
        ("data.order.note", "exists", True, True),  # null is present
        ("data.order.currency", "in", ["EUR", "USD"], True),
        ("data.order.currency", "nin", ["EUR", "USD"], False),
        ("data.order.country", "gt", "CH", True),  # strings compare as strings
        ("data.order.country", "gt", 5, False),  # a string and a number: false, no exception
        ("data.order.total", "lt", "zzz", False),
        ("data.order", "gt", 1, False),  # an object is not ordered
        ("data.items.0.sku", "eq", "A-1", True),
        ("data.items.1.qty", "lt", 2, True),
        ("data.items.2.sku", "exists", False, True),  # out of range is missing
        ("data.items.x.sku", "exists", True, False),
        ("data.tags", "eq", ["vip", "eu"], True),
        ("data.tags.0", "in", ["vip"], True),
        ("data.order.total.cents", "exists", False, True),  # below a number: missing
        ("data.nope", "neq", 1, False),  # a missing path fails every op ...
        ("data.nope", "nin", [1], False),
        ("data.nope", "eq", None, False),
        ("data.nope", "exists", True, False),
        ("data.nope", "exists", False, True),  # ... except exists: false
    ],
)
def test_operators(path, op, value, expected):
    assert event_matches(validate_filter(rule(path, op, value)), EVENT) is expected


@pytest.mark.parametrize(
    "data, path, op, value, expected",
    [
        ([1, 2, 3], "data.1", "eq", 2, True),
        ("plain text", "data", "eq", "plain text", True),
        ("plain text", "data.0", "exists", True, False),
        (42, "data", "gte", 42, True),
        (None, "data", "exists", True, True),
        (None, "data.x", "exists", False, True),
        (True, "data", "in", [True], True),
    ],
)
def test_data_may_be_any_json_value(data, path, op, value, expected):
    assert event_matches(validate_filter(rule(path, op, value)), {**EVENT, "data": data}) is expected


def test_groups_combine_all_and_any():
    rules = validate_filter(EXAMPLE)
    assert event_matches(rules, EVENT)
    assert not event_matches(rules, {**EVENT, "data": {"order": {"total": 99, "country": "DE"}}})
    assert not event_matches(rules, {**EVENT, "data": {"order": {"total": 500, "country": "US"}}})
    assert event_matches(rules, {**EVENT, "data": {"order": {"total": 500, "country": "US", "priority": 1}}})


def test_no_filter_and_empty_groups_match_everything():
    assert validate_filter(None) is None and validate_filter({"all": []}) is None
    assert event_matches(None, EVENT)


def test_exists_defaults_to_true_and_rules_are_normalised():
    assert validate_filter({"any": [{"path": "data.x", "op": "exists"}]}) == {"any": [{"path": "data.x", "op": "exists", "value": True}]}


def nested(depth: int) -> dict:
    group = {"all": [{"path": "type", "op": "eq", "value": "x"}]}
    for _ in range(depth - 1):
        group = {"any": [group]}
    return group


@pytest.mark.parametrize(
    "value, message",
    [
        ({"all": [{"path": "type", "op": "eq", "value": 1}, {"path": "type", "op": "eq", "value": 1},
                  {"path": "data.x", "op": "like", "value": "a%"}]},
         "rules[2].op: unknown operator 'like'"),
        ([], "a group must be an object with one key"),
        ({"all": [], "any": []}, "a group must be an object with one key"),
        ({"none": []}, "a group must be an object with one key"),
        ({"all": {"path": "type"}}, "\"all\" must be a list of rules"),
        ({"all": ["type = x"]}, "rules[0]: a rule must be an object"),
        ({"all": [{"path": "data.x", "op": "eq"}]}, "rules[0].value: required for eq"),
        ({"all": [{"path": "", "op": "eq", "value": 1}]}, "rules[0].path: required"),
        ({"all": [{"path": "data..x", "op": "eq", "value": 1}]}, "rules[0].path: 'data..x' is not a dotted path"),
        ({"all": [{"path": "order.total", "op": "eq", "value": 1}]}, "rules[0].path: 'order.total' must start with one of id, type"),
        ({"all": [{"path": "data.x", "op": "in", "value": "a"}]}, "rules[0].value: in takes a list"),
        ({"all": [{"path": "data.x", "op": "nin", "value": list(range(101))}]}, "rules[0].value: nin takes a list of at most 100"),
        ({"all": [{"path": "data.x", "op": "gt", "value": [1]}]}, "rules[0].value: gt compares with a number or a string"),
        ({"all": [{"path": "data.x", "op": "lte", "value": True}]}, "rules[0].value: lte compares with a number or a string"),
        ({"all": [{"path": "data.x", "op": "exists", "value": "yes"}]}, "rules[0].value: exists takes true or false"),
        ({"all": [{"path": "data.x", "op": "eq", "value": 1, "flag": 1}]}, "rules[0].flag: unknown key"),
        ({"all": [{"any": [{"path": "data.x", "op": "eq", "value": 1}, {"path": "data.y", "op": "between"}]}]},
         "rules[0].rules[1].op: unknown operator 'between'"),
        ({"all": [{"path": "data.items.\u00b2", "op": "exists"}]},
         "rules[0].path: '\u00b2' is not a list index: indices are ASCII digits (0-9)"),
        ({"all": [{"path": "data.\u0663.sku", "op": "exists"}]}, "rules[0].path: '\u0663' is not a list index"),
        ({"all": [{"path": "data.\uff11", "op": "exists"}]}, "rules[0].path: '\uff11' is not a list index"),
        ({"all": [{"path": "data.a\x00b", "op": "exists"}]}, "rules[0].path: 'data.a\\x00b' is not a dotted path"),
        ({"all": [{"path": "data.a\x85", "op": "exists"}]}, "is not a dotted path"),
        ({"all": [{"path": "data.x", "op": "eq", "value": float("nan")}]}, "rules[0].value: nan is not a JSON number"),
        ({"all": [{"path": "data.x", "op": "in", "value": [1, float("inf")]}]}, "rules[0].value[1]: inf is not a JSON number"),
        ({"all": [{"path": "data.x", "op": "gt", "value": -float("inf")}]}, "rules[0].value: -inf is not a JSON number"),
        ({"all": [{"path": "data.x", "op": "eq", "value": {"a": 10 ** 400}}]}, "rules[0].value.a: an integer of 401 digits"),
        (nested(MAX_DEPTH + 1), f"nested at most {MAX_DEPTH} deep"),
        ({"any": [{"path": "type", "op": "eq", "value": n} for n in range(51)]}, "rules[50]: a filter may hold at most 50 rules"),
    ],
)
def test_invalid_filters_name_the_rule(value, message):
    with pytest.raises(InvalidInput) as caught:
        validate_filter(value)
    assert caught.value.field == "filter"
    assert message in caught.value.message


def test_the_deepest_allowed_nesting_is_accepted():
    assert event_matches(validate_filter(nested(MAX_DEPTH)), {**EVENT, "type": "x"})


@pytest.mark.parametrize("path", ["data.items.0.sku", "data.items.00.sku", "data.items.1.sku"])
def test_indices_are_ascii_digits(path):
    assert event_matches(validate_filter(rule(path, "exists", True)), EVENT)


@pytest.mark.parametrize(
    "path, expected",
    [("data.items.\u00b2", False), ("data.items.\u0661", False), ("data.items.\uff11.sku", False), ("data.items.1", True)],
)
def test_a_stored_path_with_other_digits_is_missing_and_does_not_raise(path, expected):
    """A filter saved before the strict rule (not validated again): `int("²")` raised, and the emit with it."""
    assert event_matches({"all": [{"path": path, "op": "exists", "value": True}]}, EVENT) is expected


def deep_list(depth: int, leaf: object = 1) -> list:
    value = [leaf]
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (deep_list(900), deep_list(900), True),
        (deep_list(100_000), deep_list(100_000), True),
        (deep_list(100_000), deep_list(100_000, 2), False),
        (deep_list(100_000), deep_list(99_999), False),
        ({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]}, True),
        ({"a": [1, {"b": True}]}, {"a": [1, {"b": 1}]}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
        ([], {}, False),
        ("1", 1, False),
        (None, None, True),
    ],
)
def test_same_compares_values_of_any_depth(a, b, expected):
    assert same(a, b) is expected


def test_eq_on_a_deep_list_evaluates():
    """A filter stored before depth limits, on an event as deep: no RecursionError at emit."""
    stored = {"all": [{"path": "data.tree", "op": "eq", "value": deep_list(900)}]}
    assert event_matches(stored, {**EVENT, "data": {"tree": deep_list(900)}})
    assert not event_matches(stored, {**EVENT, "data": {"tree": deep_list(900, 2)}})


YES, NO = {"path": "type", "op": "eq", "value": "order.created"}, {"path": "type", "op": "eq", "value": "other"}


@pytest.mark.parametrize(
    "group, expected",
    [
        ({"all": [YES, YES]}, True),
        ({"all": [YES, NO]}, False),
        ({"any": [NO, YES]}, True),
        ({"any": [NO, NO]}, False),
        ({"all": []}, True),
        ({"any": []}, False),
        ({"all": [YES, {"any": []}]}, False),
        ({"any": [NO, {"all": []}]}, True),
        ({"all": [{"any": [NO, {"all": [YES, {"any": [YES]}]}]}, YES]}, True),
        ({"all": [{"any": [NO, {"all": [YES, {"any": [NO]}]}]}, YES]}, False),
        ({"any": [{"all": [YES, NO]}, {"all": [YES, YES]}]}, True),
        ({"any": [{"all": [NO]}, {"any": [NO, {"any": [NO]}]}, NO]}, False),
    ],
)
def test_groups_without_recursion_answer_as_all_and_any_do(group, expected):
    assert event_matches(group, EVENT) is expected


def test_groups_of_any_depth_evaluate():
    """Deeper than validate_filter allows (a row written by hand): still no RecursionError."""
    group = {"all": [YES]}
    for _ in range(50_000):
        group = {"any": [NO, group]}
    assert event_matches(group, EVENT)
