"""The spool's sending rule, pure: for the events sent and Hookline's answer, what to delete,
what to set aside as refused for good, and how long to wait before the next send. The
sync client's thread and the async client's task both follow it (and only move bytes)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from hookline_client import _core, errors
from hookline_client._spool import Row
from hookline_client.types import Emitted

log = logging.getLogger("hookline_client.spool")

# A spool waits as long as it must: the app may outlive a long outage.
SPOOL_BACKOFF = _core.RetryPolicy(max_attempts=0, base_delay=0.5, max_delay=30.0)


def spool_call(rows: list[Row]) -> _core.Call[list[Emitted]]:
    """One event alone goes through POST /api/v1/events, a backlog through the batch endpoint."""
    if len(rows) == 1:
        single = _core.emit_call(rows[0].body)
        return _core.Call(single.method, single.path, single.body, invalid=single.invalid,
                          read=lambda answer: [single.read(answer)])
    return _core.batch_call([row.body for row in rows])


@dataclass(frozen=True)
class Verdict:
    """What to do after sending `rows`: delete `delivered`, set `rejected` aside, wait
    `wait` seconds before sending again (None: go on at once), and send the next events
    one at a time (`one_by_one`) to find which of them the server refused."""

    delivered: list[Row]
    rejected: list[tuple[Row, errors.APIError]]
    wait: float | None = None
    one_by_one: bool = False


_BATCH_ITEM = re.compile(r"^events\[(\d+)\]")


def verdict(rows: list[Row], outcome: list[Emitted] | errors.HooklineError, failures: int,
            random: float) -> Verdict:
    """`failures`: sends in a row that failed, this one included if it did."""
    if not isinstance(outcome, errors.HooklineError):
        return Verdict(delivered=rows, rejected=[])
    waiting = Verdict([], [], wait=SPOOL_BACKOFF.backoff(failures, _core.retry_after_of(outcome), random))
    if not isinstance(outcome, errors.APIError) or outcome.status in _core.NOTHING_DONE or outcome.status >= 500:
        return waiting  # not stored; Hookline will be back
    if isinstance(outcome, errors.AuthError):
        return waiting  # the key is wrong or revoked: keep the events until someone fixes it
    if len(rows) == 1:
        return Verdict([], [(rows[0], outcome)])
    item = _BATCH_ITEM.match(outcome.field or "")
    if item and int(item.group(1)) < len(rows):
        return Verdict([], [(rows[int(item.group(1))], outcome)])
    return Verdict([], [], one_by_one=True)  # a batch refused as a whole: find the culprit


class Pace:
    """The sender's state between sends: failed sends in a row (for the backoff), and how
    many events are still to be sent one at a time after a batch was refused as a whole."""

    def __init__(self) -> None:
        self.failures = 0
        self.singles = 0

    def batch_size(self) -> int:
        return 1 if self.singles else _core.MAX_BATCH_EVENTS

    def after(self, rows: list[Row], outcome: list[Emitted] | errors.HooklineError, random: float) -> Verdict:
        decided = verdict(rows, outcome, self.failures + 1, random)
        self.failures = self.failures + 1 if decided.wait is not None else 0
        if decided.one_by_one:
            self.singles = len(rows)
        elif self.singles and (decided.delivered or decided.rejected):
            self.singles -= 1
        return decided


def log_verdict(decided: Verdict, outcome: object, failures: int) -> None:
    """A refusal is an error; an outage a warning when it starts (not one per retry)."""
    for row, error in decided.rejected:
        log.error("Hookline refused spooled event %s for good (%s); it is kept in the spool's `rejected` table",
                  row.body.get("idempotency_key"), error)
    if decided.wait is not None:
        level = logging.WARNING if failures == 1 else logging.DEBUG
        log.log(level, "Hookline did not take the spooled events (%s); trying again in %.1f s, and on with backoff",
                outcome, decided.wait)
