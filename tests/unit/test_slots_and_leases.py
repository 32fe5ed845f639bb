"""The dispatcher's two books, driven by a clock passed in: the book of send slots and
pacing (what a claim may take, when a paced webhook's next token comes, when a freed slot
starts the next send) and the lease book (which held claims are due for renewal, what a
renewal or a record the database answered changes, what shutdown hands back)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from app.delivery.leases import LeaseBook
from app.delivery.slots import KEEP_ANSWERING_SECONDS, SlotBook
from app.delivery.types import ClaimedDelivery

LEASE = 30
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
_CLAIM = ClaimedDelivery(
    id="dl_1", attempts=0, lease_expires_at=T0 + timedelta(seconds=LEASE), event_id="ev_1", event_type="order.created",
    payload=None, webhook_id="wh_1", url="http://127.0.0.1/hook", secret="s", headers=None, previous_secret=None,
    previous_secret_expires_at=None, timeout=None, retry_schedule=None, attempts_before_recovery=0,
    rate_limit=None, max_in_flight=None, ordered=False,
)
_ids = iter(range(2, 10_000))


def claim(webhook_id: str = "wh_1", **fields) -> ClaimedDelivery:
    return dataclasses.replace(_CLAIM, id=f"dl_{next(_ids)}", webhook_id=webhook_id, **fields)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def claimed_at(seconds: float, delivery_id: str = "dl_1") -> ClaimedDelivery:
    return dataclasses.replace(_CLAIM, id=delivery_id, lease_expires_at=at(seconds + LEASE))


def book(max_concurrency: int = 8, per_webhook: int = 4) -> SlotBook:
    return SlotBook(max_concurrency, per_webhook)


@pytest.mark.parametrize("rate", [4, 20, 0.5])
def test_a_paced_webhook_may_take_another_once_the_clock_passes_one_over_its_rate(rate):
    slots = book()
    slots.claimed(claim(rate_limit=rate), now=100)
    assert slots.seconds_until_token(100) == pytest.approx(1 / rate)
    assert slots.offer(100 + 1 / rate * 0.99) == {"wh_1": 0}, "not before the token"
    assert slots.offer(100 + 1 / rate) == {"wh_1": 1}
    assert slots.offer(100 + 10 / rate) == {"wh_1": 1}, "idle time stores up no burst"


def test_a_webhook_without_a_rate_needs_no_wake_up():
    slots = book()
    slots.claimed(claim(), now=0)
    slots.claimed(claim(rate_limit=2, webhook_id="wh_2"), now=0)
    assert slots.seconds_until_token(0.25) == pytest.approx(0.25)
    assert slots.seconds_until_token(0.5) is None, "a full bucket is forgotten: the wake-ups stop"


def test_a_claim_takes_no_more_than_the_free_slots():
    slots = book(max_concurrency=3)
    assert slots.wanted(batch_size=100) == 3
    assert slots.wanted(batch_size=2) == 2
    for _ in range(3):
        slots.claimed(claim(), now=0)
    assert (slots.wanted(batch_size=100), slots.saturated) == (0, True)


def test_the_cap_holds_sends_back_and_a_freed_slot_starts_the_next():
    slots = book(per_webhook=2)
    claims = [claim() for _ in range(3)]
    for c in claims:
        slots.claimed(c, now=0)
    assert [slots.next_send("wh_1") for _ in range(3)] == [claims[0], claims[1], None]
    following, _ = slots.finished(claims[0], answering=False, now=1)
    assert following is claims[2]
    assert slots.taken == 2


@pytest.mark.parametrize(
    "fields, cap",
    [({}, 4), ({"max_in_flight": 2}, 2), ({"ordered": True}, 1), ({"ordered": True, "max_in_flight": 3}, 1)],
)
def test_each_webhook_has_its_own_cap(fields, cap):
    slots = book(per_webhook=4)
    slots.claimed(claim(**fields), now=0)
    assert slots.paces["wh_1"].cap == cap


def test_a_webhook_that_answers_is_claimed_ahead_while_slots_are_plenty():
    slots = book(max_concurrency=8, per_webhook=2)
    first = claim()
    slots.claimed(first, now=0)
    assert slots.offer(0) == {"wh_1": 1}, "the cap, nothing ahead before an answer"
    slots.next_send("wh_1")
    slots.finished(first, answering=True, now=1)
    assert slots.offer(1) == {"wh_1": 4}, "the cap and as many again waiting"
    for _ in range(4):
        slots.claimed(claim(), now=1)
    assert slots.offer(1)["wh_1"] <= 0 and not slots.ahead, "half the slots taken: no claims ahead"


def test_an_idle_webhook_is_forgotten_once_its_answer_is_old():
    slots = book()
    sent = claim()
    slots.claimed(sent, now=0)
    slots.next_send("wh_1")
    slots.finished(sent, answering=True, now=0)
    assert "wh_1" in slots.offer(KEEP_ANSWERING_SECONDS - 0.1)
    assert slots.offer(KEEP_ANSWERING_SECONDS) == {}


def test_a_freed_slot_wakes_a_sweep_when_every_slot_was_taken():
    slots = book(max_concurrency=2)
    claims = [claim(webhook_id=f"wh_{n}") for n in range(2)]
    for c in claims:
        slots.claimed(c, now=0)
        slots.next_send(c.webhook_id)
    assert slots.wanted(batch_size=10) == 0
    _, sweep = slots.finished(claims[0], answering=False, now=1)
    assert sweep


def test_a_closed_book_starts_nothing():
    slots = book()
    slots.claimed(claim(), now=0)
    slots.closed = True
    assert slots.next_send("wh_1") is None


# (seconds after the claim, renewed then): due once less than two thirds of the lease is left.
RENEWAL_POINT = [(0, False), (LEASE / 3 - 0.001, False), (LEASE / 3 + 0.001, True), (LEASE, True), (LEASE * 2, True)]


@pytest.mark.parametrize("seconds, due", RENEWAL_POINT)
def test_a_lease_is_due_for_renewal_once_the_clock_passes_a_third_of_it(seconds, due):
    leases = LeaseBook(LEASE)
    claim = claimed_at(0)
    leases.hold(claim)
    assert leases.due_for_renewal(at(seconds)) == ([claim] if due else [])


def test_a_renewed_lease_is_due_again_a_third_of_a_lease_after_its_renewal():
    leases = LeaseBook(LEASE)
    claim = claimed_at(0)
    leases.hold(claim)
    (due,) = leases.due_for_renewal(at(11))
    assert leases.renewed([due], {claim.id: at(11 + LEASE)}) == 0
    assert leases.due_for_renewal(at(21)) == []
    (again,) = leases.due_for_renewal(at(21.01))
    assert again.lease_expires_at == at(11 + LEASE)
    assert leases.current(claim) == again, "a record carries the renewed lease"


def test_a_lease_the_database_did_not_renew_keeps_its_value_and_counts_as_lost():
    """It ran out and another process claimed the row: this process's record moves nothing."""
    leases = LeaseBook(LEASE)
    claim = claimed_at(0)
    leases.hold(claim)
    (due,) = leases.due_for_renewal(at(LEASE + 1))
    assert leases.renewed([due], {}) == 1
    assert leases.current(claim).lease_expires_at == at(LEASE)


def test_a_later_claim_of_the_same_delivery_replaces_the_earlier_one():
    leases = LeaseBook(LEASE)
    first, again = claimed_at(0), claimed_at(LEASE + 1)
    leases.hold(first)
    (due,) = leases.due_for_renewal(at(LEASE + 1))
    leases.hold(again)  # this process took it again after its own lease ran out
    leases.renewed([due], {first.id: at(LEASE + 1 + LEASE)})
    assert leases.current(first) is None, "the earlier claim's record must not move the row"
    assert leases.current(again) is again, "and the answer meant for the earlier one is not applied"


def test_a_recorded_claim_is_no_longer_renewed_and_an_unrecorded_one_is_handed_back():
    leases = LeaseBook(LEASE)
    stored, refused, sending = claimed_at(0, "dl_1"), claimed_at(0, "dl_2"), claimed_at(0, "dl_3")
    for claim in (stored, refused, sending):
        leases.hold(claim)
    leases.recorded(stored, stored, stored=True)
    leases.recorded(refused, refused, stored=False)
    assert leases.due_for_renewal(at(LEASE)) == [sending]
    assert sorted(c.id for c in leases.release_all()) == ["dl_2", "dl_3"]
    assert leases.release_all() == []
