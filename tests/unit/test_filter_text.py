"""The `where` text of GET /api/v1/events becomes the filter a webhook would store."""

from __future__ import annotations

import pytest

from app.rules.errors import InvalidInput
from app.rules.filter_text import where_filter
from app.rules.filters import event_matches


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        (["data.order_id eq 1234"], {"all": [{"path": "data.order_id", "op": "eq", "value": 1234}]}),
        (["data.country eq DE"], {"all": [{"path": "data.country", "op": "eq", "value": "DE"}]}),
        (['data.code eq "12"'], {"all": [{"path": "data.code", "op": "eq", "value": "12"}]}),
        (["data.note  eq  two words "], {"all": [{"path": "data.note", "op": "eq", "value": "two words"}]}),
        (['data.country in ["DE", "FR"]', "data.total gte 100"],
         {"all": [{"path": "data.country", "op": "in", "value": ["DE", "FR"]},
                  {"path": "data.total", "op": "gte", "value": 100}]}),
        (["data.order_id = 1234"], {"all": [{"path": "data.order_id", "op": "eq", "value": 1234}]}),
        (['data.country != "DE"'], {"all": [{"path": "data.country", "op": "neq", "value": "DE"}]}),
        (["data.total > 1", "data.total >= 2", "data.total < 3", "data.total <= 4"],
         {"all": [{"path": "data.total", "op": op, "value": n} for op, n in (("gt", 1), ("gte", 2), ("lt", 3), ("lte", 4))]}),
        (["data.note exists"], {"all": [{"path": "data.note", "op": "exists", "value": True}]}),
        (["data.note exists false"], {"all": [{"path": "data.note", "op": "exists", "value": False}]}),
        (['{"any": [{"path": "type", "op": "eq", "value": "order.paid"}]}'],
         {"all": [{"any": [{"path": "type", "op": "eq", "value": "order.paid"}]}]}),
    ],
)
def test_where_texts(values, expected):
    assert where_filter(values) == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([""], "where: empty"),
        (["data.order_id"], "is not `<path> <operator> <value>`"),
        (["data.order_id like 3"], "is not `<path> <operator> <value>`"),
        (["data.order_id eq"], "eq needs a value"),
        (["data.order_id ="], "eq needs a value"),
        (["data.order_id=1234"], "is not `<path> <operator> <value>`"),
        (["data.order_id == 1234"], "(or = != > >= < <=)"),
        (["order_id eq 3"], "must start with one of id, type, timestamp, data"),
        (["data.total gt [1]"], "gt compares with a number or a string"),
        (['{"all": [1'], "not valid JSON"),
        (['{"some": []}'], "rules[0].some: unknown key"),
        (["data.a eq 1", "data.b like 2"], "where[1]: 'data.b like 2'"),
    ],
)
def test_bad_where_names_the_parameter(values, message):
    with pytest.raises(InvalidInput) as caught:
        where_filter(values)
    assert caught.value.field == "where" and message in caught.value.message


def test_the_text_means_what_the_webhook_filter_means():
    rules = where_filter(["data.order_id eq 1234"])
    assert event_matches(rules, {"data": {"order_id": 1234.0}})
    assert not event_matches(rules, {"data": {"order_id": "1234"}})
    assert not event_matches(rules, {"data": {}})
