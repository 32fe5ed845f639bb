"""Bad input from API clients: every case is a clear 4xx naming what is wrong, nothing is
stored, and the next good request works."""

from __future__ import annotations

import json

import pytest
from bs4 import BeautifulSoup
from standardwebhooks import Webhook as StandardWebhook

from app.storage.models import CANCELLED, PENDING, ApiKey, Attempt, Delivery, Event, EventType, Webhook
from tests.helpers import ADMIN, create_webhook, serving

JSON = {"content-type": "application/json"}


def still_works(api) -> None:
    assert api.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN).status_code == 202


NESTED_ARRAYS = b'{"type": "order.paid", "data": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
NESTED_OBJECTS = b'{"type": "order.paid", "data": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}"


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "content, headers, status, phrase, field",
    [
        (b'{"type": "order.paid"', JSON, 400, "malformed JSON body: not valid JSON", None),
        (b"", JSON, 400, "malformed JSON body", None),
        (b"   ", JSON, 400, "malformed JSON body", None),
        (b'{"type": "order.paid"}', {"content-type": "text/plain"}, 415, "Content-Type must be", None),
        (b'{"type": "order.paid"}', {"content-type": "multipart/form-data; boundary=x"}, 415, "Content-Type must be", None),
        (b'{"type": "order.paid"}', {}, 415, "Content-Type must be", None),
        (NESTED_ARRAYS, JSON, 400, "malformed JSON body: nested too deeply (more than 128 levels)", None),
        (NESTED_OBJECTS, JSON, 400, "malformed JSON body: nested too deeply", None),
        (b'{"type": "order.paid", "data": ' + b"[" * 129 + b"]" * 129 + b"}", JSON, 400, "nested too deeply", None),
        (b'{"type": "order.paid", "data": "\xc3\x28"}', JSON, 400, "malformed JSON body: not valid UTF-8", None),
        (b'{"type": "order.paid", "data": "\xed\xa0\x80"}', JSON, 400, "malformed JSON body: not valid UTF-8", None),
        ('{"type": "order.paid", "data": 1}'.encode("utf-16"), JSON, 400, "holds NUL bytes, as UTF-16", None),
        ('{"type": "order.paid", "data": 1}'.encode("utf-16-be"), JSON, 400, "holds NUL bytes, as UTF-16", None),
        ('{"type": "order.paid", "data": 1}'.encode("utf-32"), JSON, 400, "holds NUL bytes", None),
        (b'{"type": "order.paid", "data": {"s": "\\ud800"}}', JSON, 422, "data.s: contains a lone UTF-16 surrogate", "data.s"),
        (b'{"type": "order.paid", "data": "\\udfff tail"}', JSON, 422, "data: contains a lone UTF-16 surrogate", "data"),
        (b'{"type": "order.paid", "\\ud800": 1}', JSON, 400, "malformed JSON body: holds a key with a lone UTF-16", None),
        (b'{"type": "order.paid", "data": {"x": 1e400}}', JSON, 422, "data.x: 1e400 does not fit a double", "data.x"),
        (b'{"type": "order.paid", "data": {"x": [1, -1e999]}}', JSON, 422, "data.x[1]: -1e999 does not fit", "data.x[1]"),
        (b'{"type": "order.paid", "data": {"x": NaN}}', JSON, 422, "data.x: NaN is not a JSON number", "data.x"),
        (b'{"type": "order.paid", "data": {"x": Infinity}}', JSON, 422, "data.x: Infinity is not a JSON number", "data.x"),
        (b'{"type": "order.paid", "data": {"n": ' + b"7" * 400 + b"}}", JSON, 422, "is beyond the largest double", "data.n"),
        (b"type=order.paid&data=" + b"%5B" * 10_000, FORM, 422, "data: nested too deeply", "data"),
        (b"type=order.paid&data=%22%5Cud800%22", FORM, 422, "data: contains a lone UTF-16 surrogate", "data"),
        (b"type=order.paid&data=%7B%22x%22%3A1e400%7D", FORM, 422, "data.x: 1e400 does not fit a double", "data.x"),
        (b"type=order.paid&data=NaN", FORM, 422, "data: NaN is not a JSON number", "data"),
        (b"type=order.paid&data=\xff", FORM, 400, "not valid UTF-8", None),
    ],
)
def test_bad_emit_bodies(api, content, headers, status, phrase, field):
    response = api.post("/api/v1/events", content=content, headers={**ADMIN, **headers})
    assert response.status_code == status, response.text
    assert phrase in response.json()["error"]["message"]
    assert response.json()["error"].get("field") == field
    assert Event.select().count() == 0
    still_works(api)


BODIES_THAT_ARE_NOT_UTF8_JSON = {
    "UTF-16": ('{"name": "x"}'.encode("utf-16"), "holds NUL bytes, as UTF-16 and UTF-32 text does"),
    "UTF-32": ('{"name": "x"}'.encode("utf-32-le"), "holds NUL bytes"),
    "a raw lone surrogate": (b'{"name": "\xed\xb0\x80"}', "a UTF-16 surrogate, encoded, at byte 10"),
    "not UTF-8": (b'{"name": "caf\xe9"}', "not valid UTF-8"),
    "nested 10,000 deep": (b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested too deeply"),
}


@pytest.mark.parametrize("body, reason", BODIES_THAT_ARE_NOT_UTF8_JSON.values(), ids=BODIES_THAT_ARE_NOT_UTF8_JSON)
def test_every_json_route_answers_400_with_the_reason(api, body, reason):
    webhook = create_webhook(api)["id"]
    event = api.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN).json()["id"]
    routes = [("POST", "/api/v1/events"), ("POST", "/api/v1/events/batch"), ("POST", "/api/v1/webhooks"),
              ("PATCH", f"/api/v1/webhooks/{webhook}"), ("POST", f"/api/v1/webhooks/{webhook}/rotate-secret"),
              ("POST", f"/api/v1/webhooks/{webhook}/test"), ("POST", f"/api/v1/webhooks/{webhook}/recover"),
              ("POST", f"/api/v1/events/{event}/replay"), ("POST", "/api/v1/event-types"),
              ("PATCH", "/api/v1/event-types/order.paid")]
    for method, path in routes:
        response = api.request(method, path, content=body, headers={**ADMIN, **JSON})
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["error"]["message"].startswith("malformed JSON body: "), (method, path)
        assert reason in response.json()["error"]["message"], (method, path)
    assert (Event.select().count(), Webhook.select().count()) == (1, 1)


def test_rows_stored_before_the_strict_rules_show_nan_and_infinity_as_null(dashboard, api):
    """NaN and Infinity got in before: JSONField wrote them as `Infinity`, an event's data as
    well. Every listing and detail that shows such a row answers, with null in their place."""
    from app.storage.db import database

    webhook = create_webhook(api, filter={"all": [{"path": "data.x", "op": "lt", "value": 5}]})["id"]
    event = api.post("/api/v1/events", json={"type": "order.paid", "data": {"x": 1}}, headers=ADMIN).json()["id"]
    delivery = Delivery.get(Delivery.event == event).id
    database.execute_sql("UPDATE event SET data = ? WHERE id = ?", ('{"x":Infinity,"y":[NaN,-Infinity],"z":1e-7}', event))
    database.execute_sql("UPDATE webhook SET filter = ? WHERE id = ?",
                         ('{"all":[{"path":"data.x","op":"lt","value":Infinity}]}', webhook))
    database.execute_sql("UPDATE event_type SET example = ? WHERE name = ?", ('{"n":NaN}', "order.paid"))

    answers = {path: api.get(path, headers=ADMIN) for path in (
        f"/api/v1/events/{event}", f"/api/v1/deliveries/{delivery}", "/api/v1/webhooks", f"/api/v1/webhooks/{webhook}",
        f"/api/v1/webhooks/{webhook}/deliveries", "/api/v1/event-types", "/api/v1/event-types/order.paid")}
    for path, response in answers.items():
        assert response.status_code == 200, (path, response.text)
        assert "Infinity" not in response.text and "NaN" not in response.text, path
    assert answers[f"/api/v1/events/{event}"].json()["data"] == {"x": None, "y": [None, None], "z": 1e-7}
    assert b'"z":1e-7' in answers[f"/api/v1/deliveries/{delivery}"].content
    assert answers[f"/api/v1/webhooks/{webhook}"].json()["filter"]["all"][0]["value"] is None
    assert answers["/api/v1/event-types/order.paid"].json()["example"] == {"n": None}

    for path in ("/webhooks", f"/webhooks/{webhook}/edit", f"/webhooks/{webhook}/test", f"/webhooks/{webhook}/deliveries",
                 f"/deliveries/{delivery}", "/event-types", "/event-types/order.paid/edit"):
        page = dashboard.get(path)
        assert page.status_code == 200, (path, page.text)
        assert "Infinity" not in page.text and "NaN" not in page.text, path
    shown = BeautifulSoup(dashboard.get(f"/deliveries/{delivery}").text, "html.parser").select_one("pre.payload").text
    assert json.loads(shown)["data"] == {"x": None, "y": [None, None], "z": 1e-7} and '"z": 1e-7' in shown


def test_body_over_the_limit_is_refused_while_it_streams(api, settings):
    def chunks():  # no Content-Length: the limit must hold on the bytes as they arrive
        for _ in range(settings.max_payload_bytes // 1024 + 2):
            yield b" " * 1024

    response = api.post("/api/v1/events", content=chunks(), headers={**ADMIN, **JSON})
    assert response.status_code == 413 and "limit" in response.json()["error"]["message"]
    still_works(api)


def test_lone_surrogates_are_refused_in_webhook_fields_too(api):
    body = b'{"url": "http://127.0.0.1:9/hook", "name": "x\\ud83d"}'
    response = api.post("/api/v1/webhooks", content=body, headers={**ADMIN, **JSON})
    assert response.status_code == 422 and response.json()["error"]["field"] == "name"


@pytest.mark.parametrize("path", ["/api/v1/events", "/login"])
@pytest.mark.parametrize(
    "padding", [{"X-Padding": "a" * 200_000}, {"X-Padding": "a" * 4_000_000}, {f"X-H{n}": "v" for n in range(500)}]
)
def test_huge_headers_are_431_and_the_server_goes_on(api, path, padding):
    response = api.post(path, json={"type": "order.paid"}, headers={**ADMIN, **padding})
    assert response.status_code == 431
    assert "request headers are larger than" in response.text.lower()
    assert Event.select().count() == 0
    still_works(api)


@pytest.mark.parametrize(
    "type_name, phrase",
    [("order.refunded", "unknown event type 'order.refunded'"), ("order.paid", "event type 'order.paid' is archived")],
)
def test_unknown_and_archived_event_types(api, clock, type_name, phrase):
    EventType.update(archived_at=clock()).where(EventType.name == "order.paid").execute()
    response = api.post("/api/v1/events", json={"type": type_name}, headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == "type"
    assert phrase in response.json()["error"]["message"]


@pytest.mark.parametrize("key", ["missing", "invalid", "revoked"])
def test_keys_that_do_not_work(api, tenant_key, clock, key):
    headers = {"missing": {}, "invalid": {"Authorization": "Bearer hl_" + "x" * 43}, "revoked": tenant_key}[key]
    ApiKey.update(revoked_at=clock()).where(ApiKey.tenant.is_null(False)).execute()
    response = api.post("/api/v1/events", json={"type": "order.paid"}, headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "second",
    [{"type": "order.paid", "data": {"id": 2}}, {"type": "order.created", "data": {"id": 1}}, {"type": "order.paid"}],
)
def test_idempotency_key_reused_for_a_different_event_is_409(api, second):
    create_webhook(api)
    headers = {**ADMIN, "Idempotency-Key": "order-1"}
    first = api.post("/api/v1/events", json={"type": "order.paid", "data": {"id": 1}}, headers=headers)
    conflict = api.post("/api/v1/events", json=second, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["field"] == "idempotency_key"
    assert first.json()["id"] in conflict.json()["error"]["message"]
    assert (Event.select().count(), Delivery.select().count()) == (1, 1)


def test_idempotency_replay_ignores_key_order(api):
    headers = {**ADMIN, "Idempotency-Key": "order-2"}
    first = api.post("/api/v1/events", content=b'{"type":"order.paid","data":{"a":1,"b":[1,2]}}', headers={**headers, **JSON})
    again = api.post("/api/v1/events", content=b'{"data":{"b":[1,2],"a":1},"type":"order.paid"}', headers={**headers, **JSON})
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.postgres
def test_idempotency_tells_amounts_apart_that_one_double_would_not(api):
    """12345678901234567.89 and .88 are the same double: read as floats, the second event
    passed for a replay of the first and was silently dropped."""
    headers = {**ADMIN, "Idempotency-Key": "order-3", **JSON}
    first = api.post("/api/v1/events", content=b'{"type":"order.paid","data":{"amount":12345678901234567.89,"n":1}}',
                     headers=headers)
    again = api.post("/api/v1/events", content=b'{"type":"order.paid","data":{"n":1,"amount":12345678901234567.89}}',
                     headers=headers)
    other = api.post("/api/v1/events", content=b'{"type":"order.paid","data":{"n":1,"amount":12345678901234567.88}}',
                     headers=headers)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["error"]["field"] == "idempotency_key"


# The test server allows http (settings fixture), so the scheme errors name both.
BAD_URLS = [
    ("https://exa mple.com/hook", "spaces"),
    ("https://example.com/a b", "spaces"),
    ("https://example.com/hook\r\nX-Injected: 1", "control characters"),
    ("https://exa\tmple.com/", "control characters"),
    ("javascript:alert(1)", "must be an http:// or https:// URL"),
    ("example.com/hook", "must be an http:// or https:// URL"),
    ("//example.com/hook", "must be an http:// or https:// URL"),
    ("file:///etc/passwd", "must be an http:// or https:// URL"),
    ("gopher://example.com:70/_x", "must be an http:// or https:// URL"),
    ("https://example.com:0/hook", "invalid port"),
    ("https://example.com:65536/hook", "invalid port"),
    ("https://user:secret@example.com/hook", "credentials"),
    ("https://xn--/hook", "not a valid international domain name"),
    ("https://ex%41mple.com/hook", "host name"),
    ("https://[::1/hook", "not a valid URL"),
    ("https://", "host name"),
]


@pytest.mark.parametrize("url, phrase", BAD_URLS)
def test_invalid_webhook_urls_are_422_naming_url(api, url, phrase):
    response = api.post("/api/v1/webhooks", json={"url": url}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "url" and phrase in response.json()["error"]["message"]
    assert Webhook.select().count() == 0


def test_international_host_names_are_stored_in_their_ascii_form(api):
    created = api.post("/api/v1/webhooks", json={"url": "https://bücher.example/hook"}, headers=ADMIN).json()
    assert created["url"] == "https://xn--bcher-kva.example/hook"
    lookalike = api.post("/api/v1/webhooks", json={"url": "https://\u0435xample.com/"}, headers=ADMIN).json()
    assert lookalike["url"] == "https://xn--xample-2of.com/", "a Cyrillic look-alike is shown for what it is"


def test_nul_characters_are_delivered_and_signed_byte_for_byte(settings, clock, receiver):
    data = {"text": "a\u0000b", "emoji": "\U0001F600", "pair": "\ud83d\ude00"}
    with serving(settings, clock, run_sender=True) as client:
        secret = create_webhook(client, url=receiver.url())["secret"]
        sent = json.dumps({"type": "order.paid", "data": data}).encode()
        assert client.post("/api/v1/events", content=sent, headers={**ADMIN, **JSON}).status_code == 202
        (request,) = receiver.wait_for(1)
    assert b"a\\u0000b" in request.body, "NUL stays escaped: the body is valid JSON"
    assert StandardWebhook(secret).verify(request.body, request.headers)["data"] == {**data, "pair": "\U0001F600"}


def test_deleting_a_webhook_cancels_its_waiting_deliveries_and_keeps_them_visible(api, settings, clock, receiver):
    webhook = create_webhook(api, url=receiver.url())
    other = create_webhook(api, url=receiver.url("/other"))
    emitted = [api.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN).json()["id"] for _ in range(2)]
    delivery_id = Delivery.get((Delivery.webhook == webhook["id"]) & (Delivery.event == emitted[0])).id

    assert api.delete(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).status_code == 204
    assert api.get(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).status_code == 404
    assert [w["id"] for w in api.get("/api/v1/webhooks", headers=ADMIN).json()["data"]] == [other["id"]]
    assert api.delete(f"/api/v1/webhooks/{webhook['id']}", headers=ADMIN).status_code == 404

    shown = api.get(f"/api/v1/deliveries/{delivery_id}", headers=ADMIN)
    assert shown.status_code == 200
    assert shown.json()["status"] == CANCELLED and "webhook was deleted" in shown.json()["last_error"]
    statuses = {d.webhook_id: d.status for d in Delivery.select()}
    assert statuses == {webhook["id"]: CANCELLED, other["id"]: PENDING}

    assert api.post("/api/v1/events", json={"type": "order.paid"}, headers=ADMIN).json()["deliveries"] == 1, "no fan-out"
    resend = api.post(f"/api/v1/deliveries/{delivery_id}/resend", headers=ADMIN)
    assert resend.status_code == 409 and "deleted" in resend.json()["error"]["message"]


@pytest.mark.anyio
async def test_the_sender_never_sends_for_a_deleted_webhook(db, settings, clock, receiver, engine):
    from app.delivery.queue import claim_due, record_results
    from app.services.webhooks import delete_webhook
    from tests.helpers import NO_JITTER, emit, make_webhook

    webhook = make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    emit(settings, clock)
    dispatcher = engine.dispatcher
    in_flight = claim_due(clock(), 1, settings.lease_seconds)  # one send under way at the delete
    delete_webhook(webhook.id, None, clock())
    result = await dispatcher.send(in_flight[0])
    record_results([(in_flight[0], result)], clock(), settings, NO_JITTER)
    clock.advance(settings.lease_seconds + 1)
    assert await dispatcher.sweep() == 0
    assert [d.status for d in Delivery.select()] == [CANCELLED, CANCELLED]
    assert len(receiver.requests) == 1 and Attempt.select().count() == 1, "the send in flight is logged"
