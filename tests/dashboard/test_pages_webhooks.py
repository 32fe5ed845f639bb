"""The webhooks settings pages, over real HTTP, read with BeautifulSoup."""

from __future__ import annotations

import httpx
import pytest

from app.rules.clock import system_clock
from app.services.users import create_user
from app.storage.models import Tenant, Webhook
from tests.helpers import ADMIN_PASSWORD, ADMIN_USER, create_in_dashboard, only_webhook, serving, sign_in, soup


# --- first run, sign-in, CSRF ------------------------------------------------------------


def test_first_start_asks_for_an_admin_then_signs_in(api):
    first = api.get("/webhooks")
    assert (first.status_code, first.headers["location"]) == (303, "/setup")
    page = soup(api.get("/setup"))
    token = page.select_one("input[name=csrf_token]")["value"]
    assert page.select_one("label[for=password]")

    mismatch = api.post("/setup", data={"name": "ada", "password": "x" * 12, "password_confirm": "y" * 12, "csrf_token": token})
    assert mismatch.status_code == 422 and "does not match" in mismatch.text
    short = api.post("/setup", data={"name": "ada", "password": "short", "password_confirm": "short", "csrf_token": token})
    assert short.status_code == 422 and "at least 10 characters" in short.text

    done = api.post("/setup", data={"name": "ada", "password": "x" * 12, "password_confirm": "x" * 12, "csrf_token": token})
    assert (done.status_code, done.headers["location"]) == (303, "/webhooks")
    assert api.get("/webhooks").status_code == 200
    assert api.get("/setup").headers["location"] == "/login", "setup is shown only once"


def test_setup_cannot_run_twice(dashboard):
    response = dashboard.post("/setup", {"name": "mallory", "password": "p" * 12, "password_confirm": "p" * 12})
    assert response.status_code == 409
    assert [u.name for u in __import__("app.storage.models", fromlist=["User"]).User.select()] == [ADMIN_USER]


def test_login_logout_and_wrong_password(dashboard, api):
    dashboard.post("/logout")
    assert api.get("/webhooks").headers["location"] == "/login?next=/webhooks"
    page = soup(api.get("/login"))
    token = page.select_one("input[name=csrf_token]")["value"]
    wrong = api.post("/login", data={"name": ADMIN_USER, "password": "nope", "csrf_token": token})
    assert wrong.status_code == 422 and "Wrong name or password" in wrong.text
    right = api.post("/login", data={"name": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": token, "next": "//evil.example"})
    assert right.headers["location"] == "/webhooks", "next may not leave the site"


def test_session_cookie_is_httponly_and_samesite_lax(api, clock):
    from app.services.users import create_first_admin

    create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
    page = soup(api.get("/login"))
    response = api.post("/login", data={"name": ADMIN_USER, "password": ADMIN_PASSWORD, "csrf_token": page.select_one("input[name=csrf_token]")["value"]})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


@pytest.mark.parametrize(
    "headers, data",
    [
        ({}, {}),  # no token at all
        ({}, {"csrf_token": "forged"}),
        ({"X-CSRF-Token": "forged"}, {}),
    ],
)
def test_state_changes_need_the_csrf_token(dashboard, headers, data):
    response = dashboard.client.post("/webhooks", data={"name": "x", "url": "http://127.0.0.1:9/h", "events": "*", **data}, headers=headers)
    assert response.status_code == 403
    assert Webhook.select().count() == 0


def test_cross_site_posts_are_refused_even_with_a_token(dashboard):
    data = {"name": "x", "url": "http://127.0.0.1:9/h", "events": "*", "csrf_token": dashboard.csrf}
    response = dashboard.client.post("/webhooks", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert Webhook.select().count() == 0


def test_pages_carry_a_strict_content_security_policy(dashboard):
    response = dashboard.get("/webhooks")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not soup(response).select("script:not([src])"), "no inline scripts"
    assert not soup(response).select("[style]"), "no inline styles"


# --- list, create, edit -------------------------------------------------------------------


def test_empty_state_explains_webhooks(dashboard):
    page = soup(dashboard.get("/webhooks"))
    empty = page.select_one(".empty-state")
    assert "calls with an HTTP POST" in empty.text
    # One Create button, the page header's (issue 16, defect 13): the empty state points to it.
    creates = page.select("a[href='/webhooks/new']")
    assert [a.text.strip() for a in creates] == ["Create webhook"] and creates[0].find_parent(class_="page-header")
    assert "Create webhook" in empty.text


def test_create_with_a_plain_form_shows_the_secret_once(dashboard):
    response = create_in_dashboard(dashboard, description="ERP sync")
    assert response.status_code == 201
    page = soup(response)
    secret = page.select_one("input#signing-secret")["value"]
    assert secret == only_webhook().secret and secret.startswith("whsec_")
    assert page.select_one("button[data-copy-target=signing-secret]")
    assert "you will not see this secret again" in page.text
    assert secret in page.select_one("#snippet-python").text and secret in page.select_one("#snippet-node").text

    listing = dashboard.get("/webhooks")
    assert secret not in listing.text
    row = soup(listing).select_one(f"#webhook-{only_webhook().id}")
    assert row.select_one("a.webhook-name").text == "Billing"
    assert row.select_one(".url")["title"] == "http://127.0.0.1:9/hook"
    assert [b.text for b in row.select(".badge")] == ["order.created"]
    assert row.select_one("input[role=switch]").has_attr("checked")


def test_create_over_htmx_returns_the_secret_partial(dashboard):
    response = create_in_dashboard(dashboard, htmx=True)
    assert response.status_code == 201
    assert "<html" not in response.text and "webhooksChanged" in response.headers["hx-trigger"]
    assert soup(response).select_one("input#signing-secret")["value"] == only_webhook().secret
    assert "HX-Request" in response.headers["vary"]


@pytest.mark.parametrize(
    "fields, field_id, phrase",
    [
        ({"url": "ftp://example.com/x"}, "wh-url-error", "must be an http:// or https:// URL"),
        ({"url": ""}, "wh-url-error", "required"),
        ({"name": ""}, "wh-name-error", "required"),
        ({"events": []}, "wh-events-error", "tick at least one event type"),
        ({"headers": "no colon here"}, "wh-headers-error", "line 1 is not 'Name: value'"),
        ({"headers": "X-Webhook-Signature: spoof"}, "wh-headers-error", "set by Hookline"),
        ({"headers": "X-Note: caf\u00e9"}, "wh-headers-error", "'X-Note' must have a value of visible ASCII"),
        ({"filter": '{"all": [{"path": "data.x", "op": "eq", "value": NaN}]}'}, "wh-filter-error",
         "Filter: all[0].value: NaN is not a JSON number"),
        ({"filter": '{"all": [{"path": "data.x", "op": "lt", "value": 1e999}]}'}, "wh-filter-error", "1e999 does not fit"),
        ({"filter": '{"all": [{"path": "data.items.\u00b2", "op": "exists"}]}'}, "wh-filter-error",
         "'\u00b2' is not a list index: indices are ASCII digits"),
        ({"filter": "[" * 100_000 + "]" * 100_000}, "wh-filter-error", "Filter: nested too deeply"),
    ],
)
def test_invalid_form_is_a_422_partial_with_the_error_by_the_field(dashboard, fields, field_id, phrase):
    response = create_in_dashboard(dashboard, htmx=True, description="kept", **fields)
    assert response.status_code == 422
    page = soup(response)
    assert phrase in page.select_one(f"#{field_id}").text
    assert page.select_one("#wh-description").text == "kept", "the rest of the form is kept"
    assert Webhook.select().count() == 0


def test_events_are_grouped_checkboxes_from_the_catalog(dashboard):
    page = soup(dashboard.get("/webhooks/new"))
    groups = {g.select_one("h3").text: [i["value"] for i in g.select("input[name=events]")] for g in page.select(".event-group")}
    assert groups["order"] == ["order.*", "order.created", "order.paid"]
    assert page.select_one("input[name=event_choice]:checked")["value"] == "all"
    for field in page.select("input:not([type=hidden]), textarea, select"):
        labelled = field.find_parent("label") or page.select_one(f"label[for='{field.get('id')}']")
        assert labelled, f"{field} has no label"


def test_new_page_is_a_full_page_without_htmx_and_a_partial_with_it(dashboard):
    assert soup(dashboard.get("/webhooks/new")).select_one("html")
    partial = dashboard.get("/webhooks/new", htmx=True)
    assert "<html" not in partial.text and soup(partial).select_one("form[hx-post='/webhooks']")


def test_the_modal_title_is_the_pages_h1_on_its_own_page_and_an_h2_in_the_dialog(dashboard):
    """A page without JavaScript needs its h1; in the dialog the list page behind has it."""
    create_in_dashboard(dashboard)
    path = f"/webhooks/{only_webhook().id}/edit"
    page = soup(dashboard.get(path))
    assert [(h.name, h.get("id"), h.text) for h in page.select("h1")] == [("h1", "modal-title", "Edit Billing")]
    dialog = soup(dashboard.get(path, htmx=True))
    assert not dialog.select("h1") and dialog.select_one("h2#modal-title").text == "Edit Billing"


def test_edit_saves_and_keeps_values_on_error(dashboard):
    create_in_dashboard(dashboard, headers="X-Team: billing")
    webhook = only_webhook()
    page = soup(dashboard.get(f"/webhooks/{webhook.id}/edit"))
    assert page.select_one("#wh-headers").text == "X-Team: billing"
    assert page.select_one("input[value='order.created']").has_attr("checked")

    bad = dashboard.post(f"/webhooks/{webhook.id}/edit", {"name": "New", "url": "nope", "events": "*"}, htmx=True)
    assert bad.status_code == 422 and soup(bad).select_one("#wh-name")["value"] == "New"
    saved = dashboard.post(f"/webhooks/{webhook.id}/edit", {"name": "New", "url": webhook.url, "events": ["order.*"]}, htmx=True)
    assert saved.status_code == 204 and "closeModal" in saved.headers["hx-trigger"]
    webhook = only_webhook()
    assert (webhook.name, webhook.events, webhook.headers) == ("New", ["order.*"], {})


# --- row actions ----------------------------------------------------------------------------


def test_toggle_over_htmx_returns_the_row(dashboard):
    create_in_dashboard(dashboard)
    webhook_id = only_webhook().id
    off = dashboard.post(f"/webhooks/{webhook_id}/toggle", {}, htmx=True)
    row = soup(off).select_one(f"tr#webhook-{webhook_id}")
    assert not row.select_one("input[role=switch]").has_attr("checked") and "Disabled" in row.text
    assert only_webhook().enabled is False and "disabled" in off.headers["hx-trigger"]
    on = dashboard.post(f"/webhooks/{webhook_id}/toggle", {"enabled": "1"})
    assert on.status_code == 303 and only_webhook().enabled is True


def test_inline_rename(dashboard):
    """Renamed from the webhook page's heading (tests/dashboard/test_webhook_page.py has the rest)."""
    create_in_dashboard(dashboard)
    webhook_id = only_webhook().id
    response = dashboard.post(f"/webhooks/{webhook_id}/name", {"name": "Renamed"}, htmx=True)
    assert soup(response).select_one("#webhook-title h1").text == "Renamed"
    empty = dashboard.post(f"/webhooks/{webhook_id}/name", {"name": " "}, htmx=True)
    assert empty.status_code == 422 and only_webhook().name == "Renamed"


def test_delete(dashboard):
    create_in_dashboard(dashboard)
    webhook_id = only_webhook().id
    form = soup(dashboard.get("/webhooks")).select_one(f"form[action='/webhooks/{webhook_id}/delete']")
    assert "Delete the webhook" in form["hx-confirm"] and form["hx-post"] == form["action"]
    assert form["method"] == "get" and form.select_one("button[type=submit]").text == "Delete…"
    confirm = soup(dashboard.get(form["action"]))  # without JavaScript: a confirmation page
    assert confirm.select_one(f"form[action='/webhooks/{webhook_id}/delete'] button").text == "Delete webhook"
    assert Webhook.select().count() == 1
    response = dashboard.post(f"/webhooks/{webhook_id}/delete", {}, htmx=True)
    assert response.status_code == 200 and response.text == ""
    assert Webhook.select().where(Webhook.deleted_at.is_null()).count() == 0
    assert dashboard.get(f"/webhooks/{webhook_id}/edit").status_code == 404


def test_rotate_shows_a_new_secret(dashboard):
    create_in_dashboard(dashboard)
    old = only_webhook().secret
    page = soup(dashboard.post(f"/webhooks/{only_webhook().id}/rotate-secret", {}))
    new = page.select_one("#signing-secret")["value"]
    assert new != old and new == only_webhook().secret


def test_disabled_by_410_shows_a_banner(dashboard):
    create_in_dashboard(dashboard)
    Webhook.update(enabled=False, disabled_reason="The endpoint answered 410 Gone").execute()
    banner = soup(dashboard.get("/webhooks")).select_one(".banner-warning")
    assert "disabled automatically" in banner.text and "410 Gone" in banner.text


def test_another_tenants_webhooks_are_invisible(dashboard, api, clock):
    create_in_dashboard(dashboard)
    webhook_id = only_webhook().id
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=api.base_url) as other_client:
        other = sign_in(other_client, "bob", "b" * 12)
        assert "Billing" not in other.get("/webhooks").text
        assert other.get(f"/webhooks/{webhook_id}/edit").status_code == 404
        for action in ("toggle", "name", "delete", "rotate-secret", "test"):
            assert other.post(f"/webhooks/{webhook_id}/{action}", {"name": "x"}).status_code == 404, action
    assert only_webhook().name == "Billing" and only_webhook().enabled


def test_admin_switches_tenant(dashboard, clock):
    Tenant.create(slug="globex", created_at=clock())
    switcher = soup(dashboard.get("/webhooks")).select_one("select[name=tenant]")
    assert [o["value"] for o in switcher.select("option")] == ["default", "globex"]
    dashboard.post("/tenant", {"tenant": "globex"})
    create_in_dashboard(dashboard)
    assert only_webhook().tenant.slug == "globex"


# --- send test ----------------------------------------------------------------------------------


@pytest.fixture
def live_dashboard(settings, clock):
    from app.services.users import create_first_admin

    with serving(settings, system_clock, run_sender=True) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        yield sign_in(client)


def test_send_test_reports_the_first_attempt(live_dashboard, receiver):
    receiver.plan("/broken", 500)
    create_in_dashboard(live_dashboard, url=receiver.url(), name="Good")
    create_in_dashboard(live_dashboard, url=receiver.url("/broken"), name="Broken")
    good, broken = Webhook.select().order_by(Webhook.name.desc())

    response = live_dashboard.post(f"/webhooks/{good.id}/test", {}, htmx=True)
    assert response.status_code == 204
    assert '"Delivered: 200 in ' in response.headers["hx-trigger"]
    assert len(receiver.to("/hook")) == 1

    plain = live_dashboard.post(f"/webhooks/{broken.id}/test", {})
    assert plain.status_code == 303
    assert "Failed: the endpoint answered 500" in live_dashboard.get("/webhooks").text

    custom = live_dashboard.post(f"/webhooks/{good.id}/test", {"type": "order.paid", "data": '{"id": 5}'}, htmx=True)
    assert "Delivered" in custom.headers["hx-trigger"]
    assert b'"type":"order.paid"' in receiver.to("/hook")[-1].body

    invalid = live_dashboard.post(f"/webhooks/{good.id}/test", {"type": "order.paid", "data": "{nope"}, htmx=True)
    assert invalid.status_code == 422 and "not valid JSON" in soup(invalid).select_one("#test-data-error").text


@pytest.mark.parametrize(
    "data, phrase",
    [
        ("NaN", "Payload NaN is not a JSON number"),
        ('{"amount": Infinity}', "Payload amount: Infinity is not a JSON number"),
        ('{"x": [1e400]}', "Payload x[0]: 1e400 does not fit a double"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"s": "\\ud800"}', "s: contains a lone UTF-16 surrogate"),
    ],
)
def test_send_test_refuses_data_that_is_not_json_with_an_inline_422(dashboard, data, phrase):
    from app.storage.models import Event

    create_in_dashboard(dashboard)
    webhook = only_webhook()
    for htmx in (True, False):
        response = dashboard.post(f"/webhooks/{webhook.id}/test", {"type": "order.paid", "data": data}, htmx=htmx)
        assert response.status_code == 422, response.text[:200]
        page = soup(response)
        assert phrase in page.select_one("#test-data-error").text
        assert page.select_one("#test-data").text == data, "what was typed stays"
    assert Event.select().count() == 0


def test_send_test_delivers_the_digits_typed(live_dashboard, receiver):
    create_in_dashboard(live_dashboard, url=receiver.url())
    data = '{"amount": 12345678901234567.89, "account": 123456789012345678901234567890, "rate": 1e-7}'
    response = live_dashboard.post(f"/webhooks/{only_webhook().id}/test", {"type": "order.paid", "data": data}, htmx=True)
    assert "Delivered" in response.headers["hx-trigger"]
    assert receiver.to("/hook")[-1].body.endswith(
        b',"data":{"amount":12345678901234567.89,"account":123456789012345678901234567890,"rate":1e-7}}')


@pytest.mark.parametrize(
    "name",
    [
        b"caf\xe9",  # latin-1, not UTF-8
        b"%ED%A0%80",  # a lone surrogate, percent-encoded
        b"caf%E9",  # latin-1 behind a %-escape
        "Orders".encode("utf-16-le"),  # UTF-16
    ],
)
def test_a_form_that_is_not_utf8_is_refused_with_the_reason(dashboard, name):
    from app.storage.models import Webhook

    form = b"name=" + name + b"&url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&events=*&csrf_token=" + dashboard.csrf.encode()
    response = dashboard.client.post("/webhooks", content=form,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and "not valid UTF-8" in response.text
    assert Webhook.select().count() == 0
    good = form.replace(b"name=" + name, b"name=caf%C3%A9")
    response = dashboard.client.post("/webhooks", content=good,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 201 and Webhook.get().name == "café", "the same form in UTF-8 is saved"


def test_a_live_listen_session_is_marked_in_the_list_and_not_editable(dashboard, settings, clock):
    from app.services.listen_sessions import open_session
    from app.services.tenants import named

    session = open_session(named("default"), ["*"], "http://localhost:3000/webhooks", None, settings, clock()).webhook
    assert create_in_dashboard(dashboard, name="Billing", url="https://billing.example.com/hook").status_code == 201
    page = soup(dashboard.get("/webhooks"))
    row = page.select_one(f"#webhook-{session.id}")
    assert row.select_one("[data-label=Status]").get_text(strip=True) == "live session"
    assert row.select_one("[data-label=URL]").get_text(strip=True) == "http://localhost:3000/webhooks"
    assert [a.get_text() for a in row.select("a")] == [session.name, "Deliveries", "Stats"]
    assert not row.select("form, input")
    other = page.select_one(f"#webhook-{Webhook.get(Webhook.name == 'Billing').id}")
    assert "live session" not in other.get_text() and other.select_one("input[role=switch]")
