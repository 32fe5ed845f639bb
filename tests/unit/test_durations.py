"""Durations: how they are read (settings, webhook options) and shown back (forms, pages)."""

from __future__ import annotations

import pytest

from app.rules import durations

DAY = 86400


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("500ms", 0.5), ("5s", 5), ("1.5s", 1.5), ("5m", 300), ("10min", 600), ("2h", 7200), ("1d", DAY),
     (" 30 ", 30), ("30", 30), (30, 30), (2.5, 2.5), (0, 0)],
)
def test_parse(value, seconds):
    assert durations.parse(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [("5w", "'5w' is not a duration"), ("-5s", "'-5s' is not a duration"), (True, "True is not a duration"),
     (None, "None is not a duration"), (-1, "must be a finite, non-negative"), (float("inf"), "must be a finite")],
)
def test_parse_rejects(value, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        durations.parse(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (0.5, "0.5s"), (0, "0s"), (90, "90s"), (300, "5m"), (7200, "2h"), (5400, "90m"), (DAY, "1d"),
     (36 * 3600, "36h")],
)
def test_as_written_reads_back_as_the_same_number(seconds, text):
    assert durations.as_written(seconds) == text
    assert durations.parse(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30 * DAY, "30 days"), (DAY, "1 day"), (36 * 3600, "36 hours"), (5400, "90 minutes"), (60, "1 minute"),
     (45, "45 seconds"), (1, "1 second")],
)
def test_in_words(seconds, text):
    assert durations.in_words(seconds) == text
