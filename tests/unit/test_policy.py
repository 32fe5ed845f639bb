from datetime import datetime, timedelta, timezone

import pytest

from app.delivery.policy import Failure, Outcome, RetryPolicy, auto_disable_reason, classify, parse_retry_after, retry_policy

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
SVIX_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCEEDED),
        (204, Outcome.SUCCEEDED),
        (299, Outcome.SUCCEEDED),
        (None, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (408, Outcome.RETRY),
        (429, Outcome.RETRY),
        (400, Outcome.FAILED),
        (401, Outcome.FAILED),
        (404, Outcome.FAILED),
        (422, Outcome.FAILED),
        (301, Outcome.FAILED),
        (302, Outcome.FAILED),
        (410, Outcome.GONE),
    ],
)
def test_classify(status, outcome):
    assert classify(status) is outcome


@pytest.mark.parametrize(
    "status, failure, outcome",
    [
        (None, Failure.BLOCKED, Outcome.FAILED),
        (None, Failure.INVALID_URL, Outcome.FAILED),
        (None, Failure.INVALID_HEADER, Outcome.FAILED),
        (None, Failure.TIMEOUT, Outcome.RETRY),
        (None, Failure.CONNECTION, Outcome.RETRY),
        (None, Failure.PROTOCOL, Outcome.RETRY),
        (None, Failure.UNEXPECTED, Outcome.RETRY),
        (200, Failure.TIMEOUT, Outcome.SUCCEEDED),  # the body was cut: the receiver did answer
        (503, Failure.PROTOCOL, Outcome.RETRY),  # a 503 with a malformed body
        (410, Failure.PROTOCOL, Outcome.GONE),
    ],
)
def test_classify_a_failed_attempt(status, failure, outcome):
    assert classify(status, failure) is outcome


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize(("attempts_made", "wait"), list(enumerate(SVIX_SCHEDULE)))
def test_next_attempt_follows_the_schedule_without_jitter(attempts_made, wait):
    policy = RetryPolicy(SVIX_SCHEDULE, jitter=0)
    assert policy.next_attempt_at(attempts_made, NOW, random=lambda: 0.5) == at(wait)


@pytest.mark.parametrize(("attempts_made", "wait"), list(enumerate(SVIX_SCHEDULE)))
@pytest.mark.parametrize(("random", "factor"), [(0.0, 0.9), (0.5, 1.0), (1.0, 1.1)])
def test_jitter_moves_each_wait_by_at_most_ten_percent(attempts_made, wait, random, factor):
    policy = RetryPolicy(SVIX_SCHEDULE)
    assert policy.next_attempt_at(attempts_made, NOW, random=lambda: random) == at(wait * factor)


@pytest.mark.parametrize("attempts_made", [len(SVIX_SCHEDULE), len(SVIX_SCHEDULE) + 1])
def test_no_attempt_after_the_last(attempts_made):
    assert RetryPolicy(SVIX_SCHEDULE).next_attempt_at(attempts_made, NOW, random=lambda: 0.5) is None


@pytest.mark.parametrize(
    ("attempts_made", "retry_after", "wait"),
    [
        (1, 120, 120),  # longer than the 5s step: honoured
        (1, 5000, 3600),  # longer than the cap: capped
        (2, 60, 300),  # shorter than the 5m step: the schedule wins
        (6, 5000, 36000),  # capped value is still shorter than the 10h step
        (1, 0, 5),  # "Retry-After: 0" does not shorten the schedule
    ],
)
def test_retry_after(attempts_made, retry_after, wait):
    policy = RetryPolicy(SVIX_SCHEDULE, jitter=0, retry_after_cap=3600)
    assert policy.next_attempt_at(attempts_made, NOW, random=lambda: 0.5, retry_after=retry_after) == at(wait)


def test_retry_after_does_not_extend_the_number_of_attempts():
    policy = RetryPolicy(SVIX_SCHEDULE)
    assert policy.next_attempt_at(len(SVIX_SCHEDULE), NOW, random=lambda: 0.5, retry_after=60) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Thu, 01 Jan 2026 12:01:30 GMT", 90.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),  # in the past: retry as soon as the schedule allows
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Thu, 01 Jan 2026 12:01:30", None),  # a date without a zone cannot be placed in time
        ("", None),
        (None, None),
        ("\u00b2", None),  # str.isdigit() says yes, float() says no
        ("\u0663\u0660", None),  # Arabic-Indic digits
        ("1\u00b2", None),
        ("Fri, 31 Dec 9999 23:59:59 +9959", None),  # past datetime's range once the offset applies
        ("Thu, 01 Jan 2026 99:99:99 GMT", None),
        ("9" * 400, float("9" * 400)),  # inf: the cap in next_attempt_at bounds it
    ],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


def test_one_policy_per_schedule():
    assert retry_policy((0, 60), 0.1, 3600) is retry_policy((0, 60), 0.1, 3600)
    assert retry_policy((0, 60), 0.1, 3600) is not retry_policy((0, 120), 0.1, 3600)
    assert retry_policy((0, 60), 0.1, 3600) == RetryPolicy((0, 60), 0.1, 3600)


DAY = 86400


@pytest.mark.parametrize(
    ("failures", "quiet_for", "max_failures", "disabled"),
    [
        (5, DAY, 5, True),  # both thresholds reached exactly
        (4, DAY, 5, False),  # one failure short
        (5, DAY - 1, 5, False),  # a success less than a day ago
        (50, 10 * DAY, 5, True),
        (50, 10 * DAY, 0, False),  # 0: never
        (1, DAY, 1, True),
    ],
)
def test_auto_disable_needs_both_the_streak_and_the_quiet_period(failures, quiet_for, max_failures, disabled):
    reason = auto_disable_reason(failures, at(-quiet_for), NOW, max_failures, DAY, "connection refused")
    assert (reason is not None) is disabled


def test_auto_disable_reason_reads_as_a_sentence():
    reason = auto_disable_reason(5, datetime(2025, 12, 30, 10, 0, tzinfo=timezone.utc), NOW, 5, DAY, "HTTP 500")
    assert reason == ("5 deliveries in a row failed and nothing succeeded since 2025-12-30 10:00 UTC;"
                      " last error: HTTP 500")
