"""The `where` of GET /api/v1/events: a payload filter (app/rules/filters.py) that fits a URL.

    ?where=data.order_id eq 1234              one rule: path, operator, JSON value
    ?where=data.order_id = 1234               the same: =, !=, >, >=, <, <= spell eq .. lte
    ?where=data.country in ["DE","FR"]&where=data.total gte 100     every one must hold
    ?where=data.note exists                   `exists` alone means `exists true`
    ?where={"any": [...]}                     a whole filter in its JSON form

A value that is not JSON text is a string (`data.country eq DE`); quote it to keep
`true`, `null` or `12` a string (`data.code eq "12"`). Whatever the form, the result goes
through validate_filter: the operators, the limits and what matches are those of webhook
filters, and a mistake is an InvalidInput naming `where` with that parser's message.
The dashboard's Events search box takes the same text, where people type `=` first.
"""

from __future__ import annotations

from app.rules import jsontext
from app.rules.errors import InvalidInput
from app.rules.filters import OPERATORS, validate_filter

FIELD = "where"
MAX_LENGTH = 4096  # one parameter; the rules inside are limited by validate_filter
SYMBOLS = {"=": "eq", "!=": "neq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def where_filter(values: list[str]) -> dict | None:
    """The filter that the `where` parameters of one request spell, or None for none."""
    items = [_item(text, index if len(values) > 1 else None) for index, text in enumerate(values)]
    try:
        return validate_filter({"all": items}) if items else None
    except InvalidInput as exc:
        raise InvalidInput(FIELD, exc.message.removeprefix(f"{exc.field}: ")) from None


def _item(text: str, index: int | None) -> dict:
    at = f"where[{index}]: " if index is not None else ""
    text = text.strip()
    if not text:
        raise InvalidInput(FIELD, f"{at}empty: write a condition such as `data.order_id eq 1234`")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(FIELD, f"{at}longer than {MAX_LENGTH} characters")
    if text.startswith("{"):
        try:
            return jsontext.loads(text)
        except jsontext.JSONTextError as exc:
            raise InvalidInput(FIELD, f"{at}{exc.reason}") from None
    parts = text.split(None, 2)
    op = SYMBOLS.get(parts[1], parts[1]) if len(parts) > 1 else None
    if op not in OPERATORS:
        raise InvalidInput(FIELD, f"{at}{text!r} is not `<path> <operator> <value>` with an operator of "
                                  f"{', '.join(OPERATORS)} (or {' '.join(SYMBOLS)}), such as `data.order_id eq 1234`")
    path = parts[0]
    if len(parts) == 2:
        return {"path": path, "op": op} if op == "exists" else _missing_value(at, op)
    return {"path": path, "op": op, "value": _value(parts[2])}


def _missing_value(at: str, op: str):
    raise InvalidInput(FIELD, f"{at}{op} needs a value after it, such as `data.order_id {op} 1234`")


def _value(text: str) -> object:
    try:
        return jsontext.loads(text)
    except jsontext.JSONTextError:
        return text
