"""The request inspector's pages: create a test endpoint, watch what it receives (live),
see which webhook's secret verified a signed delivery, and only within one's own tenant."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from urllib.parse import urlsplit

import httpx
import pytest
from bs4 import BeautifulSoup

from app.delivery.signing import standard_signature
from app.services.users import create_first_admin, create_user
from app.services.webhooks import rotate_secret
from app.storage.models import InspectorEndpoint, Tenant, Webhook
from tests.helpers import ADMIN_PASSWORD, ADMIN_USER, emit, make_webhook, serving, sign_in


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def new_endpoint(dashboard, name: str = "checkout") -> tuple[str, str]:
    """(its page's path, its capture URL)"""
    created = dashboard.post("/inspector", {"name": name})
    assert created.status_code == 303, created.text
    page = dashboard.get(created.headers["location"])
    return created.headers["location"], soup(page).select_one("#capture-url")["value"]


def verdicts(dashboard, page: str) -> list[str]:
    return [" ".join(p.text.split()) for p in soup(dashboard.get(page, htmx=True)).select(".inspector-verdict")]


@pytest.fixture
async def engine(api, make_engine):
    return await make_engine()


@pytest.mark.anyio
@pytest.mark.postgres
async def test_a_webhook_pointing_here_delivers_a_test_event_that_shows_verified(dashboard, engine):
    page, url = new_endpoint(dashboard, "Orders")
    assert urlsplit(url).path.startswith("/inspect/") and url.startswith(str(dashboard.client.base_url))
    assert dashboard.post(f"{page}/webhook", {}).status_code == 303
    webhook = Webhook.get(Webhook.url == url)
    send = soup(dashboard.get(page)).select_one(".inspector-send-test")
    assert send.select_one("input[name=webhook_id]")["value"] == webhook.id

    assert dashboard.post(f"{page}/send-test", {"webhook_id": webhook.id}).status_code == 303
    assert await engine.run() == 1

    fragment = soup(dashboard.get(page, htmx=True))
    (request,) = fragment.select(".inspector-request")
    assert request.select_one("h3 code").text == "POST"
    assert [" ".join(v.text.split()) for v in request.select(".inspector-verdict")] == [
        f"verified webhook-signature v1 verified with {webhook.name}'s current secret",
        f"verified X-Webhook-Signature (hmac) verified with {webhook.name}'s current secret",
    ], "Hookline's default contract: Standard Webhooks and an hmac of the timestamp and body"
    body = json.loads(request.select_one(".inspector-json").text)
    assert body["data"]["webhook_id"] == webhook.id
    assert "\n  " in request.select_one(".inspector-json").text, "pretty-printed"


def test_after_a_rotation_the_previous_secret_is_named(dashboard, settings, clock):
    page, url = new_endpoint(dashboard)
    dashboard.post(f"{page}/webhook", {})
    webhook = Webhook.get(Webhook.url == url)
    old_secret = webhook.secret
    rotate_secret(webhook.id, None, settings, clock(), grace_seconds=3600)
    sent = httpx.post(url, content=b'{"a":1}', headers=signed_headers(old_secret, b'{"a":1}'))
    assert sent.status_code == 200
    assert verdicts(dashboard, page) == [
        f"verified webhook-signature v1 verified with {webhook.name}'s previous secret"]


def signed_headers(secret: str, body: bytes) -> dict:
    return {"content-type": "application/json", "webhook-id": "msg_1", "webhook-timestamp": "1700000000",
            "webhook-signature": standard_signature(secret, "msg_1", 1700000000, body)}


def test_a_wrong_signature_says_so_and_an_unsigned_request_says_it_is_not_signed(dashboard, settings, clock):
    make_webhook(settings, clock, "http://127.0.0.1:9/hook", name="Orders to ERP")
    page, url = new_endpoint(dashboard)
    httpx.post(url, content=b"x", headers={**signed_headers("whsec_" + "A" * 44, b"x")})
    clock.advance(1)
    httpx.post(url, content=b"plain")
    assert verdicts(dashboard, page) == [
        "not verified no signature: the request has no webhook-signature header and none of the hmac headers this "
        "tenant's webhooks sign with",
        "not verified webhook-signature verified with none of this tenant's webhooks' secrets",
    ]


def test_the_list_is_newest_first_polls_and_shows_binary_as_base64(dashboard, clock):
    page, url = new_endpoint(dashboard)
    httpx.put(url + "?a=1", content=b"first", headers={"content-type": "text/plain"})
    clock.advance(1)
    httpx.post(url, content=b"\xff\x00\xfe", headers={"content-type": "application/octet-stream"})
    fragment = soup(dashboard.get(page, htmx=True))
    live = fragment.select_one("#inspector-requests")
    assert live["hx-trigger"] == "every 2s" and live["hx-get"] == page
    first, second = fragment.select(".inspector-request")
    assert first.select_one("h3 code").text == "POST" and first.select_one(".inspector-body").text == "/wD+"
    assert second.select("h3 code")[1].text.endswith("?a=1") and second.select_one(".inspector-body").text == "first"
    assert "<html" not in dashboard.get(page, htmx=True).text


def test_when_webhooks_may_send_to_the_capture_url_the_page_says_nothing_about_public_url(dashboard):
    page, _ = new_endpoint(dashboard)  # the tests' settings allow http and 127.0.0.0/8, as --dev does
    assert not soup(dashboard.get(page)).select(".inspector-public-url")


def test_when_webhooks_may_not_send_to_the_capture_url_the_page_says_why_and_to_set_public_url(settings, clock):
    strict = dataclasses.replace(settings, allow_private_networks=())
    with serving(strict, clock, run_sender=False) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        page, _ = new_endpoint(sign_in(client))
        note = " ".join(soup(client.get(page)).select_one(".inspector-public-url").text.split())
    assert "the webhook URL check says “127.0.0.1 is a private or reserved address" in note, note
    assert "Set public_url to the address senders reach this server at" in note, note


def test_another_tenants_user_gets_404_and_cannot_delete(dashboard, clock):
    page, url = new_endpoint(dashboard)
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=dashboard.client.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        assert url not in bob.get("/inspector").text
        assert bob.get(page).status_code == 404
        assert bob.get(f"{page}/delete").status_code == 404
        assert bob.post(f"{page}/delete", {}).status_code == 404
        assert bob.post(f"{page}/webhook", {}).status_code == 404
    assert dashboard.get(page).status_code == 200


def test_delete_asks_first_on_a_page_that_works_without_javascript(dashboard):
    page, url = new_endpoint(dashboard, "Checkout")
    dashboard.post(f"{page}/webhook", {})
    httpx.post(url, content=b"x")
    ask = soup(dashboard.get(page)).select_one(f"form[action='{page}/delete']")
    assert ask["method"] == "get" and ask["hx-get"] == f"{page}/delete"
    confirmation = soup(dashboard.get(f"{page}/delete"))
    assert confirmation.select_one("#modal-title").text == "Delete Checkout?"
    text = " ".join(confirmation.select_one(".modal-content p").text.split())
    assert "the 1 request it received is deleted" in text and "(Inspector: Checkout)" in text, text
    form = confirmation.select_one(f"form[action='{page}/delete']")
    assert form["method"] == "post" and form.select_one("input[name=csrf_token]")
    assert httpx.post(url, content=b"still here").status_code == 200, "asking deletes nothing"


def test_delete_makes_the_url_answer_404(dashboard):
    page, url = new_endpoint(dashboard)
    assert dashboard.post(f"{page}/delete", {}).status_code == 303
    assert httpx.post(url, content=b"x").status_code == 404
    assert dashboard.get(page).status_code == 404


def test_creating_needs_the_csrf_token_and_the_count_is_bounded(dashboard):
    assert dashboard.post("/inspector", {"name": "x"}, csrf=False).status_code == 403
    for number in range(10):
        new_endpoint(dashboard, f"e{number}")
    refused = dashboard.post("/inspector", {"name": "one too many"})
    assert refused.headers["location"] == "/inspector"
    assert "at most 10" in dashboard.get("/inspector").text
    assert InspectorEndpoint.select().count() == 10


@pytest.mark.anyio
async def test_hmac_contracts_are_verified_filling_in_the_placeholders_the_request_shows(dashboard, engine, settings,
                                                                                         clock):
    page, url = new_endpoint(dashboard)
    make_webhook(settings, clock, url, name="GitHub style", secret="s" * 32,
                 signatures=[{"scheme": "hmac", "header": "X-Hub-Signature-256", "value": "sha256={digest}"}])
    make_webhook(settings, clock, url, name="Timestamped", secret="t" * 32,
                 signatures=[{"scheme": "hmac", "header": "X-Timed-Signature",
                              "content": "{timestamp}.{webhook.id}.{body}"}])
    make_webhook(settings, clock, url, name="Per delivery", secret="d" * 32,
                 signatures=[{"scheme": "hmac", "header": "X-Delivery-Signature", "content": "{delivery.id}.{body}"}])
    emit(settings, clock)
    assert await engine.run() == 3
    assert sorted(verdicts(dashboard, page)) == [
        "not verified X-Delivery-Signature (hmac of Per delivery) not verified: it signs {delivery.id}, which the "
        "request does not show",
        "verified X-Hub-Signature-256 (hmac) verified with GitHub style's current secret",
        "verified X-Timed-Signature (hmac) verified with Timestamped's current secret",
    ]


def test_of_webhooks_sharing_an_hmac_header_only_the_one_that_verified_is_named(dashboard, settings, clock):
    page, url = new_endpoint(dashboard)
    scheme = [{"scheme": "hmac", "header": "X-Signature"}]
    for name, secret in (("First", "a" * 32), ("Second", "b" * 32)):
        make_webhook(settings, clock, "http://127.0.0.1:9/hook", name=name, secret=secret, signatures=scheme)
    httpx.post(url, content=b"{}", headers={"X-Signature": hmac.new(b"b" * 32, b"{}", hashlib.sha256).hexdigest()})
    assert verdicts(dashboard, page) == ["verified X-Signature (hmac) verified with Second's current secret"]
    httpx.post(url, content=b"{}", headers={"X-Signature": "0" * 64})
    assert verdicts(dashboard, page)[:2] == ["not verified X-Signature (hmac) does not match First's secrets",
                                             "not verified X-Signature (hmac) does not match Second's secrets"]


def test_with_public_url_the_capture_url_is_built_from_it(settings, clock):
    public = dataclasses.replace(settings, public_url="https://hooks.example.com/")
    with serving(public, clock, run_sender=False) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        page, url = new_endpoint(sign_in(client))
        assert url == f"https://hooks.example.com/inspect/{InspectorEndpoint.get().token}"
        assert not soup(client.get(page)).select(".inspector-public-url")


def test_send_test_refuses_another_tenants_webhook(dashboard, settings, clock):
    theirs = make_webhook(settings, clock, "http://127.0.0.1:9/hook", name="Theirs")
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=dashboard.client.base_url) as client:
        bob = sign_in(client, "bob", "b" * 12)
        page, _ = new_endpoint(bob)
        assert bob.post(f"{page}/send-test", {"webhook_id": theirs.id}).status_code == 404
