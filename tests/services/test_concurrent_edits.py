"""Two changes to one webhook at the same moment: each ends as one whole request's
version, never a mix and never a 500; a secret rotated meanwhile is the one that signs;
a delivery caught between a delete and a test send or resend ends cancelled or sent,
never pending for a webhook that no longer exists.

The two requests start together from a barrier, ROUNDS times. SQLite lets one writer in
at a time, so here these check that each read-modify-write sits inside its write
transaction; `--db=postgres` runs them again on PostgreSQL, where row locks must do it.
"""

from __future__ import annotations

import concurrent.futures
import threading
from functools import partial

import pytest

from app.rules.errors import Conflict, NotFound
from app.services.deliveries import resend_delivery
from app.services.trial_sends import send_test_event
from app.services.webhooks import delete_webhook
from app.storage.db import database
from app.storage.models import CANCELLED, SUCCEEDED, Delivery, Webhook
from tests.helpers import ADMIN, emit, make_webhook

pytestmark = pytest.mark.postgres  # the database matters: run again by --db=postgres

ROUNDS = 10


def together(*calls):
    """Run the calls in threads released at the same moment; their results, in order."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait(timeout=10)
        try:
            return call()
        finally:
            database.close()  # this thread's connection; the pool's threads outlive the call

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=30) for future in futures]


def refused(call, *expected: type[Exception]):
    """The call's result, or the expected refusal's type when it lost the race."""
    try:
        return call()
    except expected as exc:
        return type(exc)


def test_two_patches_at_once_leave_one_whole_version(api, receiver):
    hook = api.post("/api/v1/webhooks", json={"url": receiver.url("/start")}, headers=ADMIN).json()
    versions = {(receiver.url("/a"), "A"), (receiver.url("/b"), "B")}
    patches = [partial(api.patch, f"/api/v1/webhooks/{hook['id']}", json={"url": url, "name": name}, headers=ADMIN)
               for url, name in versions]
    for _ in range(ROUNDS):
        answers = together(*patches)
        assert [answer.status_code for answer in answers] == [200, 200]
        assert {(answer.json()["url"], answer.json()["name"]) for answer in answers} == versions
        stored = api.get(f"/api/v1/webhooks/{hook['id']}", headers=ADMIN).json()
        assert (stored["url"], stored["name"]) in versions


def test_a_rotation_racing_a_patch_keeps_the_secret_it_returned(api, receiver):
    hook = api.post("/api/v1/webhooks", json={"url": receiver.url()}, headers=ADMIN).json()
    rotate = partial(api.post, f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=ADMIN)
    for round_number in range(ROUNDS):
        before = Webhook.get_by_id(hook["id"]).secret
        patch = partial(api.patch, f"/api/v1/webhooks/{hook['id']}", json={"name": f"round {round_number}"}, headers=ADMIN)
        rotated, patched = together(rotate, patch)
        assert (rotated.status_code, patched.status_code) == (200, 200)
        stored = Webhook.get_by_id(hook["id"])
        # The sender signs with the stored secret (and the previous one during the grace).
        assert (stored.secret, stored.previous_secret) == (rotated.json()["secret"], before)
        assert stored.name == f"round {round_number}"


def test_a_delete_racing_a_test_send_leaves_nothing_pending(db, settings, clock, receiver):
    outcomes = set()
    for _ in range(ROUNDS):
        webhook = make_webhook(settings, clock, receiver.url())
        sent, _ = together(
            partial(refused, partial(send_test_event, webhook.id, None, settings, clock()), NotFound),
            partial(delete_webhook, webhook.id, None, clock()),
        )
        outcomes.add("refused" if sent is NotFound else Delivery.get_by_id(sent).status)
    assert outcomes <= {"refused", CANCELLED}
    assert Delivery.select().where(Delivery.status.not_in([CANCELLED])).count() == 0


@pytest.mark.anyio
async def test_a_delete_racing_a_resend_leaves_nothing_pending(db, settings, clock, receiver, engine):
    for _ in range(ROUNDS):
        webhook = make_webhook(settings, clock, receiver.url())
        emit(settings, clock)
        await engine.run()
        delivery = Delivery.get((Delivery.webhook == webhook.id) & (Delivery.status == SUCCEEDED))
        together(
            partial(refused, partial(resend_delivery, delivery.id, None, clock()), Conflict),
            partial(delete_webhook, webhook.id, None, clock()),
        )
        # resent first: the delete cancels it; deleted first: the resend is refused and the
        # delivery stays as it was, sent
        assert Delivery.get_by_id(delivery.id).status in (CANCELLED, SUCCEEDED)
    assert await engine.run() == 0, "nothing is left to send"
    assert {status for (status,) in Delivery.select(Delivery.status).tuples()} <= {CANCELLED, SUCCEEDED}
