"""JSON text in and out, digit for digit: the one reader of JSON that others send us, and
the one writer of JSON that we store, send and show.

Python's json module is lenient where a webhook service must be strict, and lossy where it
must be exact:

- `json.loads(bytes)` guesses UTF-16 or UTF-32 and decodes with 'surrogatepass', so a raw
  lone surrogate gets in and breaks the first UTF-8 write later. Bytes are read here as
  UTF-8, strictly; a NUL byte (never valid in JSON text, always present in UTF-16/32
  text of ASCII) gets a reason of its own.
- It reads `NaN`, `Infinity` and `1e400` (a float inf): none of them is a JSON number a
  receiver can read. Integers beyond the largest double are refused too, since a receiver
  reading numbers as doubles (JavaScript, most JSON libraries) would get Infinity; every
  other integer passes as written, `123456789012345678901234567890` included (the rule is
  the double's range, not its 53-bit precision: refusing what a big-integer reader keeps
  exactly would refuse real account numbers).
- It reads `12345678901234567.89` as 1.2345678901234568e+16 and writes `1e-7` back as
  `1e-07`. A number whose float `repr` differs from its text is read as a `Number`: a
  float (it compares and computes like one) that keeps its text, which `dumps` writes back.
  json's encoders, C and Python alike, write floats with `float.__repr__` whatever their
  class, so a value holding a Number is written by the small encoder below; every other
  value stays on json's C encoder.
- Nesting deeper than MAX_DEPTH is refused, so that every later step (filters, templates,
  pages) stays far from Python's recursion limit.

Rows stored before these rules may hold NaN or Infinity: `loads_stored` reads them as null
and `dumps(..., nonfinite_as_null=True)` writes them as null, as JavaScript's
JSON.stringify does, so that showing such a row never fails and never shows non-JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from json.encoder import encode_basestring

MAX_DEPTH = 128  # containers inside containers; serde_json's default limit too
_DOUBLE_DIGITS = 308  # an integer of at most this many characters is below the largest double
_float_repr = float.__repr__
_NESTED_TOO_DEEPLY = f"nested too deeply (more than {MAX_DEPTH} levels)"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_NOT_UNICODE = "a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"


class Number(float):
    """A JSON number whose text `float` would not give back (`1e-7`, `12345678901234567.89`)."""

    __slots__ = ("text",)

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __repr__(self) -> str:
        return self.text

    def __reduce__(self):
        return Number, (self.text,)


class JSONTextError(ValueError):
    """Why a JSON text (or value) is refused, and where: `path` holds the keys and list
    indices down to the offending value, or is None when the text as a whole is at fault."""

    def __init__(self, path: tuple[str | int, ...] | None, reason: str):
        super().__init__(reason)
        self.path = path
        self.reason = reason

    def field(self, prefix: str | None) -> str | None:
        """The dotted name of the offending value: `data.items[2].price` below `prefix`
        ("data"), or `prefix` itself when the text as a whole (or its top value) is at fault."""
        name = prefix or ""
        for part in self.path or ():
            name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
        return name or None


class _Refusal(Exception):
    """A number or constant the strict reader refuses; also the marker that locates it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# The parse hooks run once per number of every request: the common case returns first.

def _exact_float(text: str) -> float:
    value = float(text)
    return value if _float_repr(value) == text else Number(text)


def _exact_integer(text: str) -> int | float:
    return int(text) if text != "-0" else Number(text)  # int("-0") would lose the sign


def _strict_float(text: str) -> float:
    value = float(text)
    if _float_repr(value) == text:
        return value
    if math.isinf(value):
        raise _Refusal(f"{text} does not fit a double (JSON numbers must be finite)")
    return Number(text)


def _strict_integer(text: str) -> int | float:
    if len(text) <= _DOUBLE_DIGITS and text != "-0":
        return int(text)
    if math.isinf(float(text)):
        raise _Refusal(f"{text[:20]}... ({len(text)} digits) is beyond the largest double")
    return _exact_integer(text)


def _strict_constant(name: str) -> None:
    raise _Refusal(f"{name} is not a JSON number")


def _marking(hook):
    """The hook, returning its refusal instead of raising it, so the walk can name where it is."""

    def marked(text: str) -> object:
        try:
            return hook(text)
        except _Refusal as refusal:
            return refusal

    return marked


_READER = json.JSONDecoder(parse_float=_strict_float, parse_int=_strict_integer, parse_constant=_strict_constant)
_LOCATOR = json.JSONDecoder(parse_float=_marking(_strict_float), parse_int=_marking(_strict_integer),
                            parse_constant=_marking(_strict_constant))
_STORED_READER = json.JSONDecoder(parse_float=_exact_float, parse_int=_exact_integer, parse_constant=lambda name: None)


def loads(text: str | bytes) -> object:
    """Strict JSON: UTF-8 bytes (or text), finite numbers that fit a double, Unicode strings,
    at most MAX_DEPTH deep; numbers keep their digits. Raises JSONTextError."""
    from_bytes = isinstance(text, (bytes, bytearray))
    if from_bytes:
        text = _utf8(bytes(text))
    if text.startswith("\ufeff"):
        raise JSONTextError(None, "not valid JSON: it starts with a byte order mark (U+FEFF)")
    try:
        value = _READER.decode(text)
    except _Refusal as refusal:
        raise _located(text, refusal) from None
    except RecursionError:
        raise JSONTextError(None, _NESTED_TOO_DEEPLY) from None
    except json.JSONDecodeError as exc:
        raise JSONTextError(None, f"not valid JSON ({exc})") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise JSONTextError(None, _NESTED_TOO_DEEPLY)
    if _may_hold_surrogate(text, raw=not from_bytes) and not _is_unicode(value):
        raise _problem(value)
    return value


def _too_deep(value: object) -> bool:
    """Containers below containers, level by level: on a batch of 1,000 events this costs a
    fraction of the parse, where `_problem` (paths, every string) costs several parses."""
    level = [value] if type(value) in (dict, list) else []
    for _ in range(MAX_DEPTH):
        level = [child for container in level for child in (container.values() if type(container) is dict else container)
                 if type(child) is dict or type(child) is list]
        if not level:
            return False
    return True


def _may_hold_surrogate(text: str, raw: bool) -> bool:
    """A \\ud800-\\udfff escape (a valid pair of escapes decodes to one character, so the
    walk finds only lone ones), or a raw surrogate where `raw` ones are possible (in text
    that was not strict UTF-8 bytes); cheap checks first, on the hot path."""
    if "\\u" in text and _ESCAPED_SURROGATE.search(text):
        return True
    if not raw:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _is_unicode(value: object) -> bool:
    """Whether every string and key is Unicode text, at the C encoder's speed; `_problem`
    then says where one is not (a pair of escapes such as an emoji's is text, and common)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _located(text: str, refusal: _Refusal) -> JSONTextError:
    """The refusal with the path to its value, found by reading the text once more with
    markers in place of refused numbers (only on this error path)."""
    try:
        return _problem(_LOCATOR.decode(text)) or JSONTextError(None, refusal.reason)  # or a duplicate key hid it
    except (json.JSONDecodeError, RecursionError):
        return JSONTextError(None, refusal.reason)  # the text breaks down further on too


def _utf8(body: bytes) -> str:
    if b"\x00" in body:
        raise JSONTextError(None, "not UTF-8 JSON: it holds NUL bytes, as UTF-16 and UTF-32 text does; send UTF-8")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if body.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise JSONTextError(None, "not UTF-8 JSON: it starts with a UTF-16 byte order mark; send UTF-8") from None
        if body[exc.start:exc.start + 1] == b"\xed" and body[exc.start + 1:exc.start + 2] >= b"\xa0":
            raise JSONTextError(None, f"not valid UTF-8 (a UTF-16 surrogate, encoded, at byte {exc.start})") from None
        raise JSONTextError(None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def check(value: object) -> None:
    """Refuse a Python value that is not strict JSON (the same rules as `loads`), for values
    that arrive already parsed (a TOML config, a service caller). Raises JSONTextError."""
    problem = _problem(value)
    if problem:
        raise problem


def _problem(value: object) -> JSONTextError | None:
    """The first value, in document order, that breaks a rule; iterative, for any depth."""
    todo: list[tuple[object, tuple, int]] = [(value, (), 0)]
    while todo:
        item, path, depth = todo.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return JSONTextError(path, f"contains {_NOT_UNICODE}")
        elif isinstance(item, _Refusal):
            return JSONTextError(path, item.reason)
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                return JSONTextError(path, f"{item!r} is not a JSON number (JSON numbers must be finite)")
        elif isinstance(item, int):
            if _beyond_double(item):
                return JSONTextError(path, f"an integer of {len(str(abs(item)))} digits is beyond the largest double")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return JSONTextError(None, _NESTED_TOO_DEEPLY)
            if isinstance(item, list):
                todo.extend((child, (*path, index), depth + 1) for index, child in reversed(list(enumerate(item))))
                continue
            for key in item:
                if not isinstance(key, str):
                    return JSONTextError(path, f"holds the key {key!r}: JSON keys are strings")
                if _LONE_SURROGATE.search(key):
                    return JSONTextError(path, f"holds a key with {_NOT_UNICODE}")
            todo.extend((child, (*path, key), depth + 1) for key, child in reversed(list(item.items())))
        else:
            return JSONTextError(path, f"a {type(item).__name__} is not a JSON value")
    return None


def _beyond_double(integer: int) -> bool:
    try:
        float(integer)
    except OverflowError:
        return True
    return False


def loads_stored(text: str | bytes) -> object:
    """JSON that we stored: digits kept, and NaN or Infinity (rows from before the strict
    rules) read as null."""
    return _STORED_READER.decode(text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text)


def dumps(value: object, indent: int | None = None, sort_keys: bool = False, nonfinite_as_null: bool = False,
          default: Callable[[object], object] | None = None) -> str:
    """JSON text, compact unless `indent` is given, non-ASCII as it is; a Number as its text.

    A non-finite float raises ValueError, or is written as null with `nonfinite_as_null`.
    `default` turns other objects into JSON values, as in json.dumps.
    """
    if not _holds_number(value):
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=indent, sort_keys=sort_keys,
                              separators=_separators(indent), default=default)
        except ValueError:
            if not nonfinite_as_null:
                raise
        except RecursionError:
            pass  # deeper than json's recursive encoders go (a stored row); the one below is iterative
    return _encode(value, indent, sort_keys, nonfinite_as_null, default)


def _separators(indent: int | None) -> tuple[str, str]:
    return (",", ":") if indent is None else (",", ": ")


def _holds_number(value: object) -> bool:
    """On every emit: exact types, containers only on the stack (Numbers come from `loads`,
    whose containers are plain dicts and lists)."""
    if type(value) is Number:
        return True
    todo = [value] if type(value) in (dict, list) else []
    while todo:
        item = todo.pop()
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is Number:
                return True
            if kind is dict or kind is list:
                todo.append(child)
    return False


class _Raw(str):
    """Text to write as it is: the punctuation between values, on the encoder's stack."""


def _encode(value: object, indent: int | None, sort_keys: bool, nonfinite_as_null: bool,
            default: Callable[[object], object] | None) -> str:
    """What json.dumps writes, but Numbers as their text, iteratively (any depth)."""
    item_separator, key_separator = _separators(indent)
    out: list[str] = []
    todo: list[tuple[object, int]] = [(value, 0)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, _Raw):
            out.append(item)
        elif isinstance(item, str):
            out.append(encode_basestring(item))
        elif item is None:
            out.append("null")
        elif item is True or item is False:
            out.append("true" if item else "false")
        elif isinstance(item, float):
            out.append(_float_text(item, nonfinite_as_null))
        elif isinstance(item, int):
            out.append(int.__repr__(item))
        elif isinstance(item, (dict, list)):
            if not item:
                out.append("{}" if isinstance(item, dict) else "[]")
                continue
            inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
            outer = "" if indent is None else "\n" + " " * (indent * level)
            if isinstance(item, dict):
                opening, closing = "{", "}"
                entries = [(_Raw(encode_basestring(_key(key)) + key_separator), child)
                           for key, child in (sorted(item.items()) if sort_keys else item.items())]
            else:
                opening, closing = "[", "]"
                entries = [(None, child) for child in item]
            out.append(opening + inner)
            todo.append((_Raw(outer + closing), level))
            for index in range(len(entries) - 1, -1, -1):
                label, child = entries[index]
                todo.append((child, level + 1))
                lead = (item_separator + inner if index else "") + (label or "")
                if lead:
                    todo.append((_Raw(lead), level + 1))
        elif default is not None:
            todo.append((default(item), level))
        else:
            raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")
    return "".join(out)


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys must be str, not {type(key).__name__}")
    return key


def _float_text(value: float, nonfinite_as_null: bool) -> str:
    if not math.isfinite(value):
        if nonfinite_as_null:
            return "null"
        raise ValueError(f"Out of range float values are not JSON compliant: {float.__repr__(value)}")
    return value.text if isinstance(value, Number) else float.__repr__(value)
