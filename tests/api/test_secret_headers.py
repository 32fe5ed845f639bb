"""Credential headers are secrets: encrypted at rest, masked wherever they are shown (API,
dashboard, portal, attempt log), in clear only on the wire to the receiver."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import httpx
import pytest
from bs4 import BeautifulSoup
from cryptography.fernet import Fernet

from app.rules import secretbox
from app.rules.custom_headers import CustomHeaders, is_credential_name, mask
from app.storage.db import database
from app.storage.models import Attempt, Tenant, Webhook
from tests.helpers import ADMIN, ADMIN_PASSWORD, ADMIN_USER, ENCRYPTION_KEY, serving, sign_in

TOKEN = "Bearer s3cr3t-token-1234"
SHOWN = "••••1234"
CUSTOM = "custom-value-5678"


def soup(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def stored_row(settings, table: str, column: str) -> str:
    """A column as it is in the SQLite file, read by a connection of its own."""
    path = settings.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        (text,) = connection.execute(f"SELECT {column} FROM {table}").fetchone()  # noqa: S608 - constants
    return text


def create(client: httpx.Client, **fields) -> httpx.Response:
    return client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", **fields}, headers=ADMIN)


def patch(client: httpx.Client, webhook_id: str, **fields) -> httpx.Response:
    return client.patch(f"/api/v1/webhooks/{webhook_id}", json=fields, headers=ADMIN)


@pytest.mark.parametrize("name, secret", [
    ("Authorization", True),
    ("authorization", True),
    ("Proxy-Authorization", True),
    ("Cookie", True),
    ("X-API-Key", True),
    ("x_api_key", True),
    ("X-APIKEY", True),
    ("Api-Key", True),
    ("X-Auth-Token", True),
    ("Private-Token", True),
    ("X-Client-Secret", True),
    ("Stripe-Secret", True),
    ("X-Password", True),
    ("X-Session-Id", True),
    ("X-Credentials", True),
    ("X-Team", False),
    ("X-Monkey", False),
    ("X-Tokenizer", False),
    ("X-Secretary", False),
    ("Keycloak-Realm", False),
    ("X-Request-Id", False),
    ("Accept", False),
])
def test_which_names_are_credentials(name, secret):
    assert is_credential_name(name) is secret


@pytest.mark.parametrize("value, shown", [
    (TOKEN, SHOWN),
    ("123456789012", "••••9012"),
    ("12345678901", "••••"),
    ("abc", "••••"),
    ("", "••••"),
])
def test_masks_show_the_last_four_characters_of_long_values_only(value, shown):
    assert mask(value) == shown


def test_custom_headers_know_their_secrets_and_never_show_them():
    headers = CustomHeaders({"Authorization": TOKEN, "X-Team": "billing", "X-Custom": CUSTOM},
                            secret=["x-custom", "X-Absent"])
    assert dict(headers) == {"Authorization": TOKEN, "X-Team": "billing", "X-Custom": CUSTOM}
    assert headers.secret_names == ["Authorization", "X-Custom"]
    assert headers.shown() == {"Authorization": SHOWN, "X-Team": "billing", "X-Custom": "••••5678"}
    sent = {**headers, "Content-Type": "application/json", "webhook-signature": "v1,abc"}
    assert headers.hide_in(sent) == {**headers.shown(), "Content-Type": "application/json", "webhook-signature": "v1,abc"}
    assert TOKEN not in repr(headers) and CUSTOM not in repr(headers)
    assert CustomHeaders({"X-Team": "billing"}).hide_in(sent) == sent


def test_the_api_shows_credentials_masked_and_the_database_holds_them_encrypted(api, settings):
    created = create(api, headers={"Authorization": TOKEN, "X-Team": "billing"})
    assert created.status_code == 201, created.text
    webhook_id = created.json()["id"]
    fetched = api.get(f"/api/v1/webhooks/{webhook_id}", headers=ADMIN)
    listed = api.get("/api/v1/webhooks", headers=ADMIN)
    for body in (created.json(), fetched.json(), listed.json()["data"][0]):
        assert body["headers"] == {"Authorization": SHOWN, "X-Team": "billing"}
        assert body["secret_headers"] == ["Authorization"]
    assert not [r for r in (created, fetched, listed) if "s3cr3t" in r.text]

    stored = stored_row(settings, "webhook", "headers")
    assert "s3cr3t" not in stored
    assert json.loads(stored)["X-Team"] == "billing", "plain headers stay readable in SQL"
    assert json.loads(stored)["Authorization"]["encrypted"].startswith("enc1:")
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(settings.database_url.removeprefix("sqlite:///"), "rb") as file:
        assert b"s3cr3t" not in file.read()
    assert Webhook.get_by_id(webhook_id).headers["Authorization"] == TOKEN


def test_the_receiver_gets_the_clear_value_and_the_attempt_log_only_the_mask(settings, clock, receiver):
    from app.services.users import create_first_admin

    with serving(settings, clock, run_sender=True) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        dashboard = sign_in(client)
        webhook = create(client, url=receiver.url(), headers={"Authorization": TOKEN, "X-Custom": CUSTOM, "X-Team": "billing"},
                         secret_headers=["X-Custom"]).json()
        tested = client.post(f"/api/v1/webhooks/{webhook['id']}/test", headers=ADMIN)
        assert tested.status_code == 200, tested.text
        (request,) = receiver.wait_for(1)
        assert (request.headers["authorization"], request.headers["x-custom"]) == (TOKEN, CUSTOM)

        logged = {"Authorization": SHOWN, "X-Custom": "••••5678", "X-Team": "billing"}
        delivery_id = tested.json()["delivery"]["id"]
        detail = client.get(f"/api/v1/deliveries/{delivery_id}", headers=ADMIN)
        page = dashboard.get(f"/deliveries/{delivery_id}")
        for shown in (tested.json()["attempt"]["request_headers"], detail.json()["attempt_log"][0]["request_headers"]):
            assert shown.items() >= logged.items()
        lines = soup(page).select_one("section.attempt pre code").text.splitlines()
        assert {"Authorization: ••••1234", "X-Custom: ••••5678", "X-Team: billing"} <= set(lines)
        for leaked in (TOKEN, CUSTOM):
            assert leaked not in tested.text + detail.text + page.text
            assert leaked not in stored_row(settings, "attempt", "request_headers")
        assert Attempt.get().request_headers.items() >= logged.items()


def test_the_portal_shows_only_the_mask_and_saving_its_form_keeps_the_secret(api, clock):
    webhook_id = create(api, tenant="acme", headers={"Authorization": TOKEN}).json()["id"]
    url = api.post("/api/v1/tenants/acme/portal-link", headers=ADMIN).json()["url"]
    with httpx.Client(base_url=api.base_url) as customer:
        assert customer.get(url).status_code == 303
        edit = customer.get(f"/webhooks/{webhook_id}/edit")
        assert "s3cr3t" not in edit.text
        form = soup(edit).select_one("form[action$='/edit']")
        assert form.select_one("#wh-headers").text == f"Authorization: {SHOWN}"
        assert form.select_one("#wh-secret-headers")["value"] == "Authorization"
        fields = {}  # what a browser posts: the ticked boxes and the chosen radio button only
        for field in form.select("input[name]"):
            if field.get("type") not in ("checkbox", "radio") or field.has_attr("checked"):
                fields.setdefault(field["name"], []).append(field.get("value", ""))
        fields.update(headers=form.select_one("#wh-headers").text, events="*", name="Renamed in the portal")
        saved = customer.post(f"/webhooks/{webhook_id}/edit", data=fields)
        assert saved.status_code == 303, saved.text
    webhook = Webhook.get_by_id(webhook_id)
    assert (webhook.name, webhook.headers["Authorization"]) == ("Renamed in the portal", TOKEN)


def test_a_masked_value_sent_back_keeps_the_secret_and_a_new_value_replaces_it(api):
    webhook = create(api, headers={"Authorization": TOKEN, "X-Team": "billing"}).json()
    kept = patch(api, webhook["id"], headers={**webhook["headers"], "X-Team": "ops"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["headers"] == {"Authorization": SHOWN, "X-Team": "ops"}
    assert Webhook.get_by_id(webhook["id"]).headers == {"Authorization": TOKEN, "X-Team": "ops"}

    wrong = patch(api, webhook["id"], headers={"Authorization": "••••9999"})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["field"] == "headers" and "mask" in wrong.json()["error"]["message"]
    assert Webhook.get_by_id(webhook["id"]).headers["Authorization"] == TOKEN

    replaced = patch(api, webhook["id"], headers={"authorization": "Bearer new-token-0042"})
    assert replaced.json()["headers"] == {"authorization": "••••0042"}
    assert dict(Webhook.get_by_id(webhook["id"]).headers) == {"authorization": "Bearer new-token-0042"}


def test_a_mask_is_no_value_for_a_new_header(api):
    response = create(api, headers={"X-Api-Key": SHOWN})
    assert response.status_code == 422 and response.json()["error"]["field"] == "headers"
    assert Webhook.select().count() == 0


def test_marking_a_custom_header_secret_through_the_api(api, settings):
    webhook = create(api, headers={"X-Custom": CUSTOM}).json()
    assert (webhook["headers"], webhook["secret_headers"]) == ({"X-Custom": CUSTOM}, [])

    marked = patch(api, webhook["id"], secret_headers=["x-custom"])
    assert (marked.json()["headers"], marked.json()["secret_headers"]) == ({"X-Custom": "••••5678"}, ["X-Custom"])
    assert CUSTOM not in stored_row(settings, "webhook", "headers")
    again = patch(api, webhook["id"], headers={"X-Custom": "••••5678", "X-Team": "billing"})
    assert again.json()["secret_headers"] == ["X-Custom"], "a header stays secret until unmarked"

    revealed = patch(api, webhook["id"], secret_headers=[])
    assert revealed.status_code == 422, "unmarking must not reveal the stored secret"
    assert revealed.json()["error"]["field"] == "secret_headers" and "holds a secret" in revealed.json()["error"]["message"]
    plain = patch(api, webhook["id"], secret_headers=[], headers={"X-Custom": "now-public"})
    assert (plain.json()["headers"], plain.json()["secret_headers"]) == ({"X-Custom": "now-public"}, [])


@pytest.mark.parametrize("value, phrase", [
    ("X-Custom", "must be a list"),
    ([1], "must be a list"),
    (["X-Absent"], "'X-Absent' is not one of the webhook's headers"),
])
def test_secret_headers_are_checked(api, value, phrase):
    webhook = create(api, headers={"X-Custom": CUSTOM}).json()
    response = patch(api, webhook["id"], secret_headers=value)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "secret_headers" and phrase in response.json()["error"]["message"]


def test_a_credential_stays_secret_even_when_left_out_of_secret_headers(api):
    webhook = create(api, headers={"Authorization": TOKEN}, secret_headers=[]).json()
    assert webhook["secret_headers"] == ["Authorization"]
    assert patch(api, webhook["id"], headers={"Authorization": SHOWN}, secret_headers=[]).json()["headers"] == {"Authorization": SHOWN}


def test_marking_a_custom_header_secret_through_the_form(dashboard):
    created = dashboard.post("/webhooks", {"name": "Billing", "url": "http://127.0.0.1:9/hook", "events": "*",
                                           "headers": f"X-Custom: {CUSTOM}\nX-Team: billing", "secret_headers": "X-Custom"})
    assert created.status_code == 201, created.text
    webhook = Webhook.get()
    assert webhook.headers.secret_names == ["X-Custom"]

    form = soup(dashboard.get(f"/webhooks/{webhook.id}/edit")).select_one("form[action$='/edit']")
    assert form.select_one("#wh-headers").text == "X-Custom: ••••5678\nX-Team: billing"
    assert form.select_one("#wh-secret-headers")["value"] == "X-Custom"
    unchanged = {"name": "Billing", "url": "http://127.0.0.1:9/hook", "events": "*",
                 "headers": form.select_one("#wh-headers").text, "secret_headers": "X-Custom"}
    assert dashboard.post(f"/webhooks/{webhook.id}/edit", unchanged).status_code == 303
    assert dict(Webhook.get().headers) == {"X-Custom": CUSTOM, "X-Team": "billing"}

    edited_mask = dashboard.post(f"/webhooks/{webhook.id}/edit", {**unchanged, "headers": "X-Custom: ••••0000"}, htmx=True)
    assert edited_mask.status_code == 422
    assert "mask" in soup(edited_mask).select_one("#wh-headers-error").text
    unmarked = dashboard.post(f"/webhooks/{webhook.id}/edit", {**unchanged, "secret_headers": ""}, htmx=True)
    assert unmarked.status_code == 422
    assert "holds a secret" in soup(unmarked).select_one("#wh-secret-headers-error").text
    assert dict(Webhook.get().headers) == {"X-Custom": CUSTOM, "X-Team": "billing"}


def test_reencrypt_moves_secret_headers_to_the_new_key(db, settings, clock):
    from app.services.setup import reencrypt_secrets
    from app.services.webhooks import create_webhook

    create_webhook(Tenant.get(), {"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": TOKEN}}, settings, clock())
    new_key = Fernet.generate_key().decode()
    try:
        secretbox.configure((new_key, ENCRYPTION_KEY), "")
        assert reencrypt_secrets() == 1
        secretbox.configure((new_key,), "")  # the old key is gone
        assert Webhook.get().headers["Authorization"] == TOKEN
    finally:
        secretbox.configure(settings.encryption_keys, "")
