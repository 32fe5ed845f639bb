"""One delivery attempt on the wire: what the receiver gets and what the log keeps."""

from __future__ import annotations

import dataclasses
import gzip
import logging

import httpx
import pytest

from app.delivery.dispatcher import Dispatcher
from app.delivery.outbound import build_client
from app.storage.models import FAILED, PENDING, SUCCEEDED, Attempt, Delivery, Webhook
from tests.helpers import Reply, emit, make_webhook

pytestmark = pytest.mark.anyio


async def test_cookies_a_receiver_sets_are_not_sent_with_later_deliveries(db, settings, clock, receiver, engine):
    receiver.plan("/hook", Reply(200, headers={"Set-Cookie": "session=abc; Path=/"}))
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    emit(settings, clock)
    await engine.run()
    assert len(receiver.requests) == 2
    assert all("cookie" not in request.headers for request in receiver.requests)


@pytest.mark.parametrize(
    "reply, logged",
    [
        (Reply(204, body=b""), ""),
        (Reply(200, body=b""), ""),
        (Reply(200, body=b'{"ok": true}'), '{"ok": true}'),
        (Reply(200, headers={"Content-Encoding": "gzip"}, body=gzip.compress(b"thanks")), "thanks"),
        (Reply(200, body=b"a\0b\xffc"), "a\ufffdb\ufffdc"),  # PostgreSQL's text refuses NUL
    ],
    ids=["204", "empty 200", "json", "gzip", "NUL and a stray byte"],
)
async def test_the_answer_is_logged_as_the_receiver_meant_it(db, settings, clock, receiver, engine, reply, logged):
    receiver.plan("/hook", reply)
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    await engine.run()
    attempt = Attempt.get()
    assert (attempt.response_status, attempt.response_body) == (reply.status, logged)
    assert receiver.requests[0].headers["accept-encoding"] == "gzip, deflate", "only what we can decode"


async def test_the_client_is_still_an_ordinary_httpx_client(settings, receiver):
    """Deliveries call its transport directly; anything else may still use the httpx API."""
    receiver.plan("/hook", Reply(201, body=b"made"))
    async with build_client(settings) as client:
        response = await client.post(receiver.url(), json={"n": 1}, timeout=5)
    assert (response.status_code, response.text, str(response.request.url)) == (201, "made", receiver.url())
    assert receiver.requests[0].body == b'{"n":1}'


async def test_deliveries_go_through_whatever_transport_the_client_was_given(db, settings, clock, receiver, make_engine):
    """build_client's transport stays pluggable: here httpx's own."""
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    engine = await make_engine(transport=httpx.AsyncHTTPTransport())
    await engine.run()
    assert Delivery.get().status == SUCCEEDED
    assert receiver.requests[0].headers["webhook-signature"].startswith("v1,")


async def test_an_address_allowed_earlier_is_refused_once_the_allowlist_drops_it(db, settings, clock, receiver, make_engine):
    """URLs are parsed once and remembered; the verdict on their host still follows the
    allowlist of the send."""
    make_webhook(settings, clock, receiver.url())
    strict = settings.replace(allow_private_networks=())
    for send_settings in (settings, strict):
        emit(settings, clock)
        engine = await make_engine(send_settings)
        await engine.run()
    by_status = {delivery.status: delivery for delivery in Delivery.select()}
    assert sorted(by_status) == sorted([SUCCEEDED, FAILED])
    assert by_status[FAILED].last_error.startswith("blocked: ")
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("headers", [{"X-Note": "caf\u00e9"}, {"X-Note": "a\vb"}, {"X-Note": "a\u2028b"}, {"X-Note\n": "x"}],
                         ids=["non-ASCII", "vertical tab", "U+2028", "name ending in a newline"])
async def test_a_header_saved_before_the_rules_fails_the_delivery_with_a_reason(db, settings, clock, receiver, engine, headers):
    """Rows saved before the header rules: the send refuses them instead of crashing in the
    HTTP client (which left the delivery in `delivering` for ever)."""
    webhook = make_webhook(settings, clock, receiver.url())
    Webhook.update(headers=headers).where(Webhook.id == webhook.id).execute()
    emit(settings, clock)
    await engine.run()
    (name,) = headers
    delivery = Delivery.get()
    assert (delivery.status, delivery.attempts) == (FAILED, 1)
    assert delivery.last_error.startswith(f"invalid header: {name!r} "), delivery.last_error
    assert "caf" not in delivery.last_error and Attempt.get().error == delivery.last_error
    assert receiver.requests == []


class UnforeseenTransport(httpx.AsyncBaseTransport):
    """Fails the way nothing in Hookline expects, with the request's headers in the message."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"unforeseen, while sending {dict(request.headers)}")


async def test_an_unforeseen_error_is_a_retried_attempt_logged_once_per_webhook(db, settings, clock, caplog, make_engine):
    caplog.set_level(logging.INFO, "hookline")
    first = make_webhook(settings, clock, "http://127.0.0.1:9/a", headers={"Authorization": "Bearer receiver-credential"})
    second = make_webhook(settings, clock, "http://127.0.0.1:9/b")
    engine = await make_engine(transport=UnforeseenTransport())
    for _ in range(2):
        emit(settings, clock)
        await engine.run()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sorted(r.getMessage().split()[4] for r in lines) == sorted([first.id, second.id]), "once per webhook"
    clock.advance(3600)  # the retries are due, and the hour is over
    await engine.run()
    deliveries = list(Delivery.select())
    assert [(d.status, d.attempts) for d in deliveries] == [(PENDING, 2)] * 4
    assert {d.last_error for d in deliveries} == {"unexpected error in Hookline while sending (RuntimeError)"}
    assert Attempt.select().count() == 8
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 4, "again once the hour is over"
    assert "receiver-credential" not in caplog.text and "unforeseen" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


class UnstorableAnswer(Dispatcher):
    """A send whose logged answer the database refuses (a lone surrogate cannot be encoded
    for SQLite): the kind of value nothing we know produces any more, but one unforeseen
    answer must not keep a whole group of deliveries from being recorded."""

    async def send(self, claimed):
        result = await super().send(claimed)
        if claimed.webhook_id == self.poisoned:
            result = dataclasses.replace(result, response_body="\ud800")
        return result


async def test_an_answer_the_database_refuses_is_recorded_without_it_and_its_group_with_it(
        db, settings, clock, receiver, caplog, make_engine):
    receiver.plan("/hook", Reply(200, body=b"thanks"))
    poisoned = make_webhook(settings, clock, receiver.url())
    make_webhook(settings, clock, receiver.url())
    engine = await make_engine(kind=UnstorableAnswer)
    engine.dispatcher.poisoned = poisoned.id
    emit(settings, clock)
    await engine.run()
    assert [d.status for d in Delivery.select()] == [SUCCEEDED, SUCCEEDED], "nothing stays delivering"
    logged = {a.delivery.webhook_id: (a.response_status, a.response_body) for a in Attempt.select()}
    assert logged.pop(poisoned.id) == (200, None)
    assert list(logged.values()) in ([(200, "thanks")], [(200, None)]), "recorded too, with its answer if apart"
    assert "attempts without the receivers' answers: the database refused them" in caplog.text
