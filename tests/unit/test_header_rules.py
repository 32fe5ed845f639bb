"""The custom header rules (app/rules/header_rules.py), as a table: what passes, and what each
refusal says."""

from __future__ import annotations

import pytest

from app.rules.header_rules import header_problem

NAME = "is not a valid header name"
CHARACTER = "must have a value of visible ASCII characters, spaces and tabs only (character {} is not one)"


@pytest.mark.parametrize(
    "name, value",
    [
        ("Authorization", "Bearer abc.DEF-123_~+/="),
        ("X-Team", "billing"),
        ("x", ""),
        ("!#$%&'*+-.^_`|~09azAZ", "v"),  # every token character
        ("X-" + "a" * 62, "v"),  # 64 characters
        ("X-Spaced", "a b\tc"),  # spaces and tabs inside a value
        ("X-Printable", "".join(chr(c) for c in range(0x20, 0x7F))),
        ("X-Long", "v" * 1000),
    ],
)
def test_allowed(name, value):
    assert header_problem(name, value) is None


@pytest.mark.parametrize(
    "name, value, problem",
    [
        ("", "v", NAME),
        ("Bad Name", "v", NAME),
        ("X-Note\n", "v", NAME),  # a regex anchored with $ let this one through
        ("X-Note:", "v", NAME),
        ("X-Caf\u00e9", "v", NAME),
        ("X-\u0663", "v", NAME),
        ("X-" + "a" * 63, "v", NAME),
        (5, "v", NAME),
        ("X-Note", "caf\u00e9", CHARACTER.format(4)),
        ("X-Note", "a\vb", CHARACTER.format(2)),
        ("X-Note", "a\u2028b", CHARACTER.format(2)),
        ("X-Note", "line\r\nInjected: 1", CHARACTER.format(5)),
        ("X-Note", "\n", CHARACTER.format(1)),
        ("X-Note", "a\0", CHARACTER.format(2)),
        ("X-Note", "a\x7f", CHARACTER.format(2)),  # DEL is not visible
        ("X-Note", "\x80", CHARACTER.format(1)),  # obs-text is obsolete
        ("X-Note", "v" * 1001, "must have a value of at most 1000 characters"),
        ("X-Note", 5, "must have a string value"),
        ("X-Note", None, "must have a string value"),
    ],
)
def test_refused(name, value, problem):
    assert problem in header_problem(name, value)
