"""Payload filters: which events a webhook wants beyond its subscribed types, pure.

A filter is stored on the webhook as JSON and evaluated on emit, so an event it rejects
never becomes a delivery (nothing to send, retry or log). The shape is small on purpose:

    {"all": [rule | group, ...]}  or  {"any": [rule | group, ...]}
    rule = {"path": "data.order.total", "op": "gt", "value": 100}

Paths walk the event envelope (`id`, `type`, `timestamp`, `data...`), with list indices as
segments of ASCII digits (`data.items.0.sku`). Evaluation never raises: a missing path fails
every operator except `exists: false`, comparing values of different kinds is simply false,
and nothing recurses (groups and `eq` on nested values are walked with explicit stacks), so
an odd event is filtered out instead of breaking the emit that carries it.
"""

from __future__ import annotations

import re

from app.rules import jsontext
from app.rules.errors import InvalidInput, first_unknown

FIELD = "filter"
GROUPS = ("all", "any")
OPERATORS = ("eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "exists")
ORDERING = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
ROOTS = ("id", "type", "timestamp", "data")
RULE_KEYS = ("path", "op", "value")
MAX_DEPTH = 4  # groups inside groups
MAX_RULES = 50  # rules in the whole filter
MAX_LIST = 100  # values of one `in`/`nin`
MAX_PATH = 256

_MISSING = object()
_INDEX = re.compile("[0-9]+")  # str.isdigit() also takes "²" and "٣", which int() refuses or reads
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

EXAMPLE = {
    "all": [
        {"path": "data.order.total", "op": "gte", "value": 100},
        {"any": [
            {"path": "data.order.country", "op": "in", "value": ["DE", "FR"]},
            {"path": "data.order.priority", "op": "exists", "value": True},
        ]},
    ]
}


def validate_filter(value: object) -> dict | None:
    """The filter as it will be stored, or InvalidInput naming the offending rule.

    `None` (and an empty group) means no filter: every subscribed event goes out.
    """
    if value is None:
        return None
    counter = [0]
    normalised = _group(value, "", 1, counter)
    if not next(iter(normalised.values())):
        return None
    return normalised


def _fail(where: str, message: str):
    raise InvalidInput(FIELD, f"{where}: {message}" if where else message)


def _group(value: object, where: str, depth: int, counter: list[int]) -> dict:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in GROUPS:
        _fail(where, "a group must be an object with one key, \"all\" or \"any\", holding a list of rules")
    if depth > MAX_DEPTH:
        _fail(where, f"groups may be nested at most {MAX_DEPTH} deep")
    (kind, rules), = value.items()
    if not isinstance(rules, list):
        _fail(where, f"\"{kind}\" must be a list of rules")
    prefix = f"{where}.rules" if where else "rules"
    items = []
    for index, item in enumerate(rules):
        at = f"{prefix}[{index}]"
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in GROUPS:
            items.append(_group(item, at, depth + 1, counter))
        else:
            counter[0] += 1
            if counter[0] > MAX_RULES:
                _fail(at, f"a filter may hold at most {MAX_RULES} rules")
            items.append(_rule(item, at))
    return {kind: items}


def _rule(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        _fail(where, "a rule must be an object such as {\"path\": \"data.total\", \"op\": \"gt\", \"value\": 100}")
    if (unknown := first_unknown(value, RULE_KEYS)) is not None:
        _fail(f"{where}.{unknown}", "unknown key (a rule has path, op and value)")
    path, op = value.get("path"), value.get("op")
    if not isinstance(path, str) or not path:
        _fail(f"{where}.path", "required: a path into the event such as \"data.order.total\"")
    segments = path.split(".")
    if len(path) > MAX_PATH or not all(segments) or _CONTROL.search(path):
        _fail(f"{where}.path", f"{path!r} is not a dotted path such as \"data.items.0.sku\"")
    if segments[0] not in ROOTS:
        _fail(f"{where}.path", f"{path!r} must start with one of {', '.join(ROOTS)}")
    odd_number = next((s for s in segments if s.isnumeric() and not _INDEX.fullmatch(s)), None)
    if odd_number is not None:
        _fail(f"{where}.path", f"{odd_number!r} is not a list index: indices are ASCII digits (0-9)")
    if op not in OPERATORS:
        _fail(f"{where}.op", f"unknown operator {op!r} (one of {', '.join(OPERATORS)})")
    if "value" not in value:
        if op != "exists":
            _fail(f"{where}.value", f"required for {op}")
        return {"path": path, "op": op, "value": True}
    operand = value["value"]
    try:
        jsontext.check(operand)
    except jsontext.JSONTextError as exc:
        _fail(exc.field(f"{where}.value"), exc.reason)
    if op == "exists" and not isinstance(operand, bool):
        _fail(f"{where}.value", "exists takes true or false")
    if op in ("in", "nin") and (not isinstance(operand, list) or len(operand) > MAX_LIST):
        _fail(f"{where}.value", f"{op} takes a list of at most {MAX_LIST} values")
    if op in ORDERING and not (_is_number(operand) or isinstance(operand, str)):
        _fail(f"{where}.value", f"{op} compares with a number or a string")
    return {"path": path, "op": op, "value": operand}


def event_matches(rules: dict | None, event: dict) -> bool:
    """Whether `event` (the envelope as a dict) passes a filter from `validate_filter`."""
    if rules is None:
        return True
    return _matches_group(rules, event)


def _matches_group(group: dict, event: dict) -> bool:
    """`all` and `any`, short-circuiting, with a stack of open groups instead of recursion.

    Each open group holds the answer that decides it early (false for `all`, true for
    `any`) and its remaining items; an answer that decides a group closes it and is the
    answer its parent sees, and a group that runs out of items answers the opposite.
    """
    stack = [_opened(group)]
    answer = None
    while stack:
        decisive, items = stack[-1]
        if answer is not None and answer == decisive:
            stack.pop()
            continue
        item = next(items, None)
        if item is None:
            stack.pop()
            answer = not decisive
        elif "path" in item:
            answer = _matches_rule(item, event)
        else:
            stack.append(_opened(item))
            answer = None
    return answer


def _opened(group: dict) -> tuple[bool, object]:
    (kind, items), = group.items()
    return kind == "any", iter(items)


def _matches_rule(rule: dict, event: dict) -> bool:
    found = resolve(event, rule["path"])
    op, operand = rule["op"], rule["value"]
    if op == "exists":
        return (found is not _MISSING) == operand
    if found is _MISSING:
        return False
    if op == "eq":
        return same(found, operand)
    if op == "neq":
        return not same(found, operand)
    if op == "in":
        return any(same(found, item) for item in operand)
    if op == "nin":
        return not any(same(found, item) for item in operand)
    comparable = (_is_number(found) and _is_number(operand)) or (isinstance(found, str) and isinstance(operand, str))
    return comparable and ORDERING[op](found, operand)


def resolve(event: object, path: str) -> object:
    """The value at a dotted path, or the `_MISSING` marker."""
    value = event
    for segment in path.split("."):
        if isinstance(value, dict):
            value = value.get(segment, _MISSING)
        elif isinstance(value, list) and _INDEX.fullmatch(segment) and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return _MISSING
        if value is _MISSING:
            return value
    return value


def same(a: object, b: object) -> bool:
    """JSON equality: `true` is not `1`, and `1` is `1.0`, as a JSON reader would see them.

    Nested values are compared pair by pair from a list, so no depth can exhaust the stack.
    """
    pairs = [(a, b)]
    while pairs:
        a, b = pairs.pop()
        if isinstance(a, bool) or isinstance(b, bool):
            if not (isinstance(a, bool) and isinstance(b, bool) and a == b):
                return False
        elif _is_number(a) and _is_number(b):
            if a != b:
                return False
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return False
            pairs.extend(zip(a, b))
        elif isinstance(a, dict) and isinstance(b, dict):
            if a.keys() != b.keys():
                return False
            pairs.extend((a[key], b[key]) for key in a)
        elif type(a) is not type(b) or a != b:
            return False
    return True


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
