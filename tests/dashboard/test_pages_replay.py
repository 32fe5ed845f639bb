"""Dashboard: "Recover failed deliveries" on the log with its progress panel, and "Replay
to another webhook" on a delivery's detail; with htmx and as plain forms."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from app.services.users import create_user
from app.services.webhooks import create_webhook
from app.storage.models import FAILED, PENDING, SUCCEEDED, Delivery, Tenant, Webhook
from tests.helpers import emit_pending, sign_in, soup


def failed_deliveries(settings, clock, count: int):
    """A webhook with `count` deliveries that ended failed, and another webhook."""
    tenant = Tenant.get(Tenant.slug == "default")
    webhook = create_webhook(tenant, {"url": "http://127.0.0.1:9/hook", "name": "Billing", "events": ["order.*"]},
                             settings, clock()).webhook
    other = create_webhook(tenant, {"url": "http://127.0.0.1:9/crm", "name": "CRM", "events": ["user.*"]},
                           settings, clock()).webhook
    emit_pending(settings, clock, count)
    Delivery.update(status=FAILED, attempts=8).execute()
    return webhook, other


def test_log_page_offers_recover_with_a_default_of_24_hours_ago(dashboard, settings, clock):
    webhook, _ = failed_deliveries(settings, clock, 1)
    form = soup(dashboard.get(f"/webhooks/{webhook.id}/deliveries")).select_one("#recover form")
    url = f"/webhooks/{webhook.id}/recover"
    assert (form["method"], form["action"], form["hx-post"], form["hx-target"]) == ("post", url, url, "#recover")
    since = form.select_one("input[name=since]")
    assert since["type"] == "datetime-local" and since["value"] == (clock() - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M")
    assert form.select_one(f"label[for={since['id']}]").text.startswith("Created since")
    assert form.select_one("input[name=csrf_token]")["value"]


def test_recover_with_a_plain_form_then_follow_progress(dashboard, settings, clock):
    webhook, _ = failed_deliveries(settings, clock, 3)
    response = dashboard.post(f"/webhooks/{webhook.id}/recover", {"since": (clock() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 303 and response.headers["location"].startswith("/recoveries/rcv_")
    assert Delivery.select().where(Delivery.status == PENDING).count() == 3
    page = soup(dashboard.get(response.headers["location"]))
    panel = page.select_one("section#recover")
    assert panel.select_one(".recover-count").text == "0 of 3 sent: 0 succeeded, 0 failed"
    assert panel["hx-trigger"] == "every 2s" and panel["hx-get"] == response.headers["location"]
    assert panel.select_one(f"a[href='{response.headers['location']}']").text == "Refresh", "without JS: a link to reload"
    assert page.select_one(".tabs a[aria-current=page]").text == "Deliveries"

    first, second, _ = Delivery.select().order_by(Delivery.id)
    Delivery.update(status=SUCCEEDED).where(Delivery.id == first.id).execute()
    Delivery.update(status=FAILED).where(Delivery.id == second.id).execute()
    partial = dashboard.get(response.headers["location"], htmx=True)
    assert "<html" not in partial.text
    assert soup(partial).select_one(".recover-count").text == "2 of 3 sent: 1 succeeded, 1 failed"
    Delivery.update(status=SUCCEEDED).where(Delivery.status == PENDING).execute()
    done = soup(dashboard.get(response.headers["location"], htmx=True)).select_one("section#recover")
    assert done.select_one(".recover-count").text == "Done: 3 of 3 sent: 2 succeeded, 1 failed"
    assert not done.has_attr("hx-trigger"), "polling stops when nothing is waiting"


def test_recover_with_htmx_swaps_in_the_progress_panel(dashboard, settings, clock):
    webhook, _ = failed_deliveries(settings, clock, 2)
    response = dashboard.post(f"/webhooks/{webhook.id}/recover", {"since": "2000-01-01T00:00"}, htmx=True)
    assert response.status_code == 200 and "<html" not in response.text
    trigger = json.loads(response.headers["hx-trigger"])
    assert trigger["toast"]["message"] == "Recovering 2 failed deliveries." and trigger["deliveriesChanged"] is True
    panel = soup(response).select_one("section#recover")
    assert panel.select_one(".recover-count").text == "0 of 2 sent: 0 succeeded, 0 failed"
    assert panel.select_one("progress")["max"] == "2"

    Webhook.update(enabled=False).where(Webhook.id == webhook.id).execute()
    waiting = soup(dashboard.get(f"/recoveries/{panel['hx-get'].rsplit('/', 1)[1]}", htmx=True))
    assert "disabled" in waiting.select_one(".banner-warning").text and waiting.select_one("section")["hx-trigger"]

    nothing = dashboard.post(f"/webhooks/{webhook.id}/recover", {"since": clock().strftime("%Y-%m-%dT%H:%M")}, htmx=True)
    assert "nothing to resend" in soup(nothing).select_one(".recover-count").text


def test_recover_form_errors_are_shown_inline(dashboard, settings, clock):
    webhook, _ = failed_deliveries(settings, clock, 1)
    url = f"/webhooks/{webhook.id}/recover"
    for htmx in (True, False):
        for value, phrase in [("", "required"), ("soon", "not an ISO 8601 time"),
                              ((clock() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"), "in the future")]:
            response = dashboard.post(url, {"since": value}, htmx=htmx)
            assert response.status_code == 422
            form = soup(response).select_one("#recover")
            assert form.name == "details" and form.has_attr("open")
            assert phrase in form.select_one("#recover-since-error").text
            assert form.select_one("input[name=since]")["value"] == value
            assert ("<html" in response.text) is not htmx
    assert Delivery.get().status == FAILED


def test_other_tenants_cannot_recover_or_see_progress(dashboard, api, settings, clock):
    webhook, _ = failed_deliveries(settings, clock, 1)
    location = dashboard.post(f"/webhooks/{webhook.id}/recover", {"since": "2000-01-01T00:00"}).headers["location"]
    Delivery.update(status=FAILED).execute()
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=api.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        assert bob.post(f"/webhooks/{webhook.id}/recover", {"since": "2000-01-01T00:00"}).status_code == 404
        assert bob.get(location).status_code == 404
    assert Delivery.get().status == FAILED


def test_replay_to_another_webhook_from_the_detail(dashboard, settings, clock):
    webhook, other = failed_deliveries(settings, clock, 1)
    delivery = Delivery.get()
    form = soup(dashboard.get(f"/deliveries/{delivery.id}")).select_one("form.replay-form")
    url = f"/deliveries/{delivery.id}/replay"
    assert (form["method"], form["action"], form["hx-post"], form["hx-target"]) == ("post", url, url, "#delivery-detail")
    assert [o["value"] for o in form.select("select[name=webhook_id] option")] == ["", other.id], "not its own webhook"
    assert form.select_one("label[for=replay-webhook]").text == "Replay to another webhook"

    plain = dashboard.post(url, {"webhook_id": other.id})
    replayed = Delivery.get((Delivery.webhook == other.id) & (Delivery.event == delivery.event_id))
    assert plain.status_code == 303 and plain.headers["location"] == f"/deliveries/{replayed.id}"
    assert replayed.status == PENDING and replayed.next_attempt_at == clock()
    page = soup(dashboard.get(plain.headers["location"]))
    assert "Replay to CRM queued" in page.select_one(".banner-success").text

    Delivery.update(status=SUCCEEDED).where(Delivery.id == replayed.id).execute()
    again = dashboard.post(url, {"webhook_id": other.id}, htmx=True)
    assert again.status_code == 200 and "<html" not in again.text
    assert Delivery.select().where(Delivery.webhook == other.id).count() == 1, "the pair's delivery is resent"
    assert Delivery.get_by_id(replayed.id).status == PENDING
    detail = soup(again).select_one("#delivery-detail")
    assert replayed.id in detail.text and detail.select_one("h2 .pill").text == PENDING
    trigger = json.loads(again.headers["hx-trigger"])
    assert trigger["toast"]["message"].startswith("Replay to CRM queued") and trigger["deliveriesChanged"] is True


def test_replay_without_a_choice_is_an_inline_error(dashboard, settings, clock):
    webhook, other = failed_deliveries(settings, clock, 1)
    delivery = Delivery.get()
    for htmx in (True, False):
        response = dashboard.post(f"/deliveries/{delivery.id}/replay", {"webhook_id": ""}, htmx=htmx)
        assert response.status_code == 422
        assert "required" in soup(response).select_one("form.replay-form #replay-error").text
    assert Delivery.select().count() == 1
