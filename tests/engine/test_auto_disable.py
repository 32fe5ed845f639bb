"""Dead endpoints get switched off, someone is told, and switching back on resumes delivery.

A real receiver answers 500 and the clock is moved by hand. Every delivery here gets a
single attempt (`retry_schedule = (0,)`), so each 500 is a delivery that failed for good.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from standardwebhooks.webhooks import Webhook as Verifier

from app.services.catalog import DISABLED_EVENT_TYPE
from app.services.tenants import get_or_create_tenant
from app.services.webhooks import create_webhook, update_webhook
from app.storage.models import FAILED, PENDING, Delivery, Webhook
from tests.helpers import emit, make_webhook

PERIOD = 3600


@pytest.fixture
def settings(settings):
    return settings.replace(retry_schedule=(0,), auto_disable_failures=3, auto_disable_period=PERIOD)


def fresh(webhook: Webhook) -> Webhook:
    return Webhook.get_by_id(webhook.id)


def since(moment) -> str:
    return f"nothing succeeded since {moment:%Y-%m-%d %H:%M} UTC"


async def fail_once(settings, clock, engine) -> None:
    clock.advance(1)
    emit(settings, clock)
    await engine.run()


@pytest.mark.anyio
async def test_disabled_at_the_threshold_not_before(db, settings, clock, receiver, engine):
    receiver.plan("/dead", 500)
    dead = make_webhook(settings, clock, receiver.url("/dead"))
    clock.advance(PERIOD)  # the quiet period since it was created is over: only the streak counts
    for count in (1, 2):
        await fail_once(settings, clock, engine)
        assert (fresh(dead).enabled, fresh(dead).consecutive_failures) == (True, count)

    await fail_once(settings, clock, engine)
    webhook = fresh(dead)
    assert (webhook.enabled, webhook.consecutive_failures) == (False, 3)
    assert webhook.disabled_reason == f"3 deliveries in a row failed and {since(dead.created_at)}; last error: HTTP 500"


@pytest.mark.anyio
async def test_a_new_webhook_gets_the_whole_quiet_period(db, settings, clock, receiver, engine):
    receiver.plan("/dead", 500)
    dead = make_webhook(settings, clock, receiver.url("/dead"))
    for _ in range(3):
        await fail_once(settings, clock, engine)
    assert (fresh(dead).enabled, fresh(dead).consecutive_failures) == (True, 3)

    clock.advance(PERIOD - 5)  # one second short of the period, once fail_once has moved the clock
    await fail_once(settings, clock, engine)
    assert (fresh(dead).enabled, fresh(dead).consecutive_failures) == (True, 4)
    await fail_once(settings, clock, engine)
    assert (fresh(dead).enabled, fresh(dead).consecutive_failures) == (False, 5)


@pytest.mark.anyio
async def test_a_success_within_the_period_keeps_it_on(db, settings, clock, receiver, engine):
    receiver.plan("/hook", 500, 500, 200, 500)
    webhook = make_webhook(settings, clock, receiver.url())
    clock.advance(PERIOD)
    for _ in range(2):
        await fail_once(settings, clock, engine)
    await fail_once(settings, clock, engine)
    succeeded_at = clock()
    assert (fresh(webhook).consecutive_failures, fresh(webhook).last_success_at) == (0, succeeded_at)

    clock.advance(PERIOD / 2)
    for _ in range(3):
        await fail_once(settings, clock, engine)
    assert (fresh(webhook).enabled, fresh(webhook).consecutive_failures) == (True, 3)
    clock.advance(PERIOD / 2)
    await fail_once(settings, clock, engine)
    assert fresh(webhook).enabled is False
    assert since(succeeded_at) in fresh(webhook).disabled_reason


@pytest.mark.anyio
async def test_a_success_from_before_last_success_at_existed_counts(db, settings, clock, receiver, engine):
    """Installs upgraded from before the column have successes only in the delivery log."""
    receiver.plan("/hook", 200, 500)
    webhook = make_webhook(settings, clock, receiver.url())
    clock.advance(PERIOD)
    await fail_once(settings, clock, engine)
    Webhook.update(last_success_at=None).where(Webhook.id == webhook.id).execute()

    clock.advance(PERIOD / 2)
    for _ in range(3):
        await fail_once(settings, clock, engine)
    assert (fresh(webhook).enabled, fresh(webhook).consecutive_failures) == (True, 3)


def system_events(receiver, path: str) -> list:
    return [r for r in receiver.to(path) if json.loads(r.body)["type"] == DISABLED_EVENT_TYPE]


@pytest.mark.anyio
async def test_the_tenants_other_subscribed_webhooks_are_told(db, settings, clock, receiver, engine):
    receiver.plan("/dead", 500)
    dead = make_webhook(settings, clock, receiver.url("/dead"), name="Billing", events=["*"])
    watcher = make_webhook(settings, clock, receiver.url("/watch"), events=[DISABLED_EVENT_TYPE])
    make_webhook(settings, clock, receiver.url("/orders"), events=["order.*"])
    globex = get_or_create_tenant("globex", clock())
    create_webhook(globex, {"url": receiver.url("/other-tenant"), "events": ["*"]}, settings, clock())
    # Created long ago rather than the clock moved: the official verifier wants a timestamp near real time.
    Webhook.update(created_at=clock() - timedelta(seconds=PERIOD)).where(Webhook.id == dead.id).execute()
    for _ in range(3):
        await fail_once(settings, clock, engine)
    disabled_at = clock()
    assert fresh(dead).enabled is False

    assert await engine.run() == 1, "one system event, to the watcher alone"
    (request,) = receiver.to("/watch")
    event = Verifier(watcher.secret).verify(request.body, request.headers)
    assert event["type"] == DISABLED_EVENT_TYPE
    assert event["data"] == {
        "id": dead.id,
        "name": "Billing",
        "url": receiver.url("/dead"),
        "reason": fresh(dead).disabled_reason,
        "consecutive_failures": 3,
        "disabled_at": disabled_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    assert system_events(receiver, "/dead") == [], "never to the webhook that was disabled"
    assert system_events(receiver, "/orders") == [], "not to a webhook that does not subscribe"
    assert receiver.to("/other-tenant") == [], "not to another tenant"


@pytest.mark.anyio
async def test_gone_disables_at_once_and_tells_the_others(db, settings, clock, receiver, engine):
    receiver.plan("/gone", 410)
    gone = make_webhook(settings, clock, receiver.url("/gone"), events=["order.*"])
    make_webhook(settings, clock, receiver.url("/watch"), events=[DISABLED_EVENT_TYPE])
    emit(settings, clock)
    await engine.run()
    assert fresh(gone).enabled is False and "410 Gone" in fresh(gone).disabled_reason

    await engine.run()
    (request,) = receiver.to("/watch")
    data = json.loads(request.body)["data"]
    assert (data["id"], data["reason"], data["consecutive_failures"]) == (gone.id, fresh(gone).disabled_reason, 1)


@pytest.mark.anyio
async def test_reenabling_resets_the_streak_and_sends_the_waiting_deliveries_in_order(db, settings, clock, receiver, make_engine):
    settings = settings.replace(max_concurrency=1)  # one send at a time: arrival order is claim order
    receiver.plan("/dead", 500, 500, 500, 200)
    dead = make_webhook(settings, clock, receiver.url("/dead"))
    clock.advance(PERIOD)
    event_ids = []
    for number in range(5):
        clock.advance(1)
        event_ids.append(emit(settings, clock, data={"n": number}).event_id)

    engine = await make_engine(settings)

    async def run_until_idle() -> None:
        for _ in range(10):  # one send per run with one slot
            if not await engine.run():
                return

    await run_until_idle()
    assert len(receiver.to("/dead")) == 3, "the third failure switches it off; two deliveries wait"
    assert [d.status for d in Delivery.select().order_by(Delivery.created_at)] == [FAILED] * 3 + [PENDING] * 2
    clock.advance(86400)
    assert await engine.run() == 0, "nothing goes to a disabled webhook"

    update_webhook(dead.id, None, {"enabled": True}, settings, clock())
    webhook = fresh(dead)
    assert (webhook.enabled, webhook.consecutive_failures, webhook.disabled_reason) == (True, 0, None)
    await run_until_idle()

    received = [r.headers["webhook-id"] for r in receiver.to("/dead")]
    assert received == event_ids, "the waiting deliveries go out after the others, oldest first"


def test_webhook_pages_show_why_it_is_off_and_switch_it_back_on(dashboard, settings, clock):
    webhook = make_webhook(settings, clock, "http://127.0.0.1:9/hook", name="Billing")
    reason = "5 deliveries in a row failed and nothing succeeded since 2026-11-20 10:00 UTC; last error: connection refused"
    Webhook.update(enabled=False, disabled_reason=reason, consecutive_failures=5).where(Webhook.id == webhook.id).execute()

    for tab in ("deliveries", "stats"):
        page = BeautifulSoup(dashboard.get(f"/webhooks/{webhook.id}/{tab}").text, "html.parser")
        banner = page.select_one("#disabled-banner")
        assert reason in banner.text
        form = banner.select_one("form")
        assert (form["method"], form["action"]) == ("post", f"/webhooks/{webhook.id}/toggle")
        assert form.select_one("input[name=enabled]")["value"] == "1"
        assert form.select_one("button").text == "Re-enable"

    response = dashboard.post(f"/webhooks/{webhook.id}/toggle", {"enabled": "1"})
    assert response.status_code == 303
    webhook = fresh(webhook)
    assert (webhook.enabled, webhook.consecutive_failures, webhook.disabled_reason) == (True, 0, None)
    page = BeautifulSoup(dashboard.get(f"/webhooks/{webhook.id}/deliveries").text, "html.parser")
    assert page.select_one("#disabled-banner") is None
