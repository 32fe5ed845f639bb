"""JSON text in and out (app/rules/jsontext.py): what is refused and why, and digits kept, as tables."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timezone

import pytest

from app.rules import jsontext
from app.rules.jsontext import MAX_DEPTH, JSONTextError, Number


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize(
    "text",
    [
        "12345678901234567.89",
        "123456789012345678901234567890",
        "-123456789012345678901234567890",
        "1e-7",
        "1E5",
        "1.10",
        "1.0",
        "0.1",
        "-0",
        "-0.0",
        "5e-324",
        "1e-400",  # below the smallest double: finite (0 to a double reader), kept as written
        "1.7976931348623157e308",
        "9" * 308,
        "1" * 309,  # 1.1e308: below the largest double
        '{"a":[1.50,{"b":2.000e+3}],"c":"x"}',
    ],
)
def test_numbers_come_back_with_the_digits_they_were_sent_with(text):
    assert jsontext.dumps(jsontext.loads(text)) == text
    assert jsontext.dumps(jsontext.loads_stored(text)) == text


def test_a_number_is_a_float_that_keeps_its_text():
    value = jsontext.loads('{"n": 12345678901234567.89, "small": 1e-7, "plain": 2.5}')
    assert type(value["n"]) is Number and value["n"] == 12345678901234567.89 and value["n"] > 1e16
    assert type(value["plain"]) is float, "a float whose repr is its text stays a plain float"
    assert value["small"] * 2 == 2e-7 and str(value["small"]) == "1e-7"
    assert pickle.loads(pickle.dumps(value)) == value and copy.deepcopy(value)["small"].text == "1e-7"


@pytest.mark.parametrize(
    "text, field, reason",
    [
        ('{"x": 1e400}', "data.x", "1e400 does not fit a double"),
        ('{"x": -1e999}', "data.x", "-1e999 does not fit a double"),
        ('{"x": NaN}', "data.x", "NaN is not a JSON number"),
        ('{"x": [1, {"y": Infinity}]}', "data.x[1].y", "Infinity is not a JSON number"),
        ('{"x": -Infinity}', "data.x", "-Infinity is not a JSON number"),
        ('{"big": ' + "2" * 309 + "}", "data.big", "(309 digits) is beyond the largest double"),
        ('{"big": ' + "9" * 5000 + "}", "data.big", "(5000 digits) is beyond the largest double"),
        ('[NaN, "tail"', "data", "NaN is not a JSON number"),  # the text breaks down later too
        ('{"s": "\\ud800"}', "data.s", "contains a lone UTF-16 surrogate"),
        ('{"s": ["ok \\ud83d\\ude00", "\\udfff tail"]}', "data.s[1]", "contains a lone UTF-16 surrogate"),
        ('{"a": {"\\udc00": 1}}', "data.a", "holds a key with a lone UTF-16 surrogate"),
        ('{"s": "raw \ud800"}', "data.s", "contains a lone UTF-16 surrogate"),  # text from a form
        (nested(MAX_DEPTH + 1), "data", f"nested too deeply (more than {MAX_DEPTH} levels)"),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "data", "nested too deeply"),
        ("[" * 100_000, "data", "nested too deeply"),
        ('{"a": 1', "data", "not valid JSON (Expecting ',' delimiter"),
        ("", "data", "not valid JSON (Expecting value"),
        ("\ufeff{}", "data", "starts with a byte order mark"),
    ],
)
def test_refusals_name_the_value_at_fault(text, field, reason):
    with pytest.raises(JSONTextError) as refused:
        jsontext.loads(text)
    assert reason in refused.value.reason
    assert refused.value.field("data") == field


@pytest.mark.parametrize(
    "body, reason",
    [
        ('{"a": "\u00e9"}'.encode("utf-16"), "it holds NUL bytes, as UTF-16 and UTF-32 text does"),
        ('{"a": 1}'.encode("utf-16-le"), "it holds NUL bytes"),
        ('{"a": 1}'.encode("utf-32"), "it holds NUL bytes"),
        (b'\xff\xfe{ "', "starts with a UTF-16 byte order mark"),
        (b'{"a": "\xed\xa0\x80"}', "not valid UTF-8 (a UTF-16 surrogate, encoded, at byte 7)"),  # a raw lone one
        (b'{"a": "\xc3\x28"}', "not valid UTF-8"),
        (b'{"a": "\xff"}', "not valid UTF-8 (invalid start byte at byte 7)"),
        (b"\xef\xbb\xbf{}", "starts with a byte order mark"),
    ],
)
def test_bytes_must_be_utf8(body, reason):
    with pytest.raises(JSONTextError) as refused:
        jsontext.loads(body)
    assert reason in refused.value.reason and refused.value.path is None


@pytest.mark.parametrize(
    "text",
    [
        nested(MAX_DEPTH),
        '{"a": "\\ud83d\\ude00 a valid pair"}',
        '"' + "[" * 500 + '"',  # brackets in a string are not nesting
        '"\\\\ud800"',  # an escaped backslash, then the letters ud800
    ],
)
def test_what_looks_odd_but_is_fine(text):
    assert jsontext.dumps(jsontext.loads(text)) == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "path, prefix, field",
    [
        ((), None, None),
        (None, None, None),
        (None, "filter", "filter"),
        (("data", "x"), None, "data.x"),
        (("events", 3, "data", "items", 0), None, "events[3].data.items[0]"),
        ((0,), None, "[0]"),
        (("all", 0, "value"), "filter", "filter.all[0].value"),
    ],
)
def test_field_names(path, prefix, field):
    assert JSONTextError(path, "reason").field(prefix) == field


VALUES = [
    {"a": 1, "b": [True, False, None], "c": "é \u2028 \x00 \"q\"", "d": {"e": {}, "f": []}, "g": -2.5e-10},
    [1, [2, [3, [4]]], {"z": 1, "a": 2}],
    "text",
    0,
    {},
    [],
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("indent, sort_keys", [(None, False), (2, False), (None, True), (4, True)])
def test_both_encoders_write_what_json_dumps_writes(value, indent, sort_keys):
    expected = json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys,
                          separators=(",", ":") if indent is None else (",", ": "))
    assert jsontext.dumps(value, indent=indent, sort_keys=sort_keys) == expected
    with_number = jsontext.dumps([value, Number("1.5")], indent=indent, sort_keys=sort_keys)  # the own encoder
    assert with_number == json.dumps([value, 1.5], ensure_ascii=False, indent=indent, sort_keys=sort_keys,
                                     separators=(",", ":") if indent is None else (",", ": "))


@pytest.mark.parametrize("value", [float("inf"), {"x": [float("nan")]}, [Number("1e400")], {"a": -float("inf")}])
def test_non_finite_numbers_are_never_written(value):
    with pytest.raises(ValueError):
        jsontext.dumps(value)
    assert "null" in jsontext.dumps(value, nonfinite_as_null=True)
    assert "Infinity" not in jsontext.dumps(value, nonfinite_as_null=True, indent=2)


def test_stored_rows_from_before_read_nan_and_infinity_as_null():
    assert jsontext.loads_stored('{"a": NaN, "b": [Infinity, -Infinity], "c": 1e-7}') == {"a": None, "b": [None, None],
                                                                                          "c": 1e-7}
    assert jsontext.loads_stored(b'{"c": 1.10}')["c"].text == "1.10"


def test_values_of_any_depth_can_be_written():
    deep = [[]]
    for _ in range(20_000):
        deep = [deep]
    assert jsontext.dumps(deep, nonfinite_as_null=True) == "[" * 20_002 + "]" * 20_002
    assert jsontext.dumps(deep, indent=1).count("\n") == 2 * 20_001


@pytest.mark.parametrize(
    "value, field, reason",
    [
        ({"x": float("nan")}, "example.x", "nan is not a JSON number"),
        ({"x": [float("inf")]}, "example.x[0]", "inf is not a JSON number"),
        ({"x": 10 ** 400}, "example.x", "an integer of 401 digits is beyond the largest double"),
        ({"when": datetime(2026, 1, 1, tzinfo=timezone.utc)}, "example.when", "a datetime is not a JSON value"),
        ({1: "a"}, "example", "holds the key 1: JSON keys are strings"),
        (["\udfff"], "example[0]", "lone UTF-16 surrogate"),
        (json.loads(nested(MAX_DEPTH + 1)), "example", "nested too deeply"),
    ],
)
def test_check_refuses_python_values_that_are_not_strict_json(value, field, reason):
    with pytest.raises(JSONTextError) as refused:
        jsontext.check(value)
    assert reason in refused.value.reason and refused.value.field("example") == field


@pytest.mark.parametrize("value", [None, {"a": [1, 2.5, "x", True, None]}, 123456789012345678901234567890, 1.7e308])
def test_check_passes_strict_json(value):
    jsontext.check(value)


class Opaque:
    pass


@pytest.mark.parametrize("value", [{"a": Opaque()}, [Number("1e-7"), Opaque()]])
def test_default_turns_other_objects_into_json_values_on_both_encoders(value):
    written = jsontext.dumps(value, default=lambda item: "opaque")
    assert '"opaque"' in written and json.loads(written)
    with pytest.raises(TypeError):
        jsontext.dumps(value)
