"""One delivery attempt on the wire: what the receiver gets and what the log keeps."""

from __future__ import annotations

import gzip

import httpx
import pytest

from app.dispatch import Dispatcher
from app.models import FAILED, SUCCEEDED, Attempt, Delivery
from app.outbound import build_client
from tests.conftest import NO_JITTER, Engine, Reply, emit, make_webhook

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
    ],
    ids=["204", "empty 200", "json", "gzip"],
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


async def test_deliveries_go_through_whatever_transport_the_client_was_given(db, settings, clock, receiver):
    """build_client's transport stays pluggable: here httpx's own."""
    make_webhook(settings, clock, receiver.url())
    emit(settings, clock)
    async with build_client(settings, httpx.AsyncHTTPTransport()) as client:
        await Engine(Dispatcher(settings, client, clock, random=NO_JITTER)).run()
    assert Delivery.get().status == SUCCEEDED
    assert receiver.requests[0].headers["webhook-signature"].startswith("v1,")


async def test_an_address_allowed_earlier_is_refused_once_the_allowlist_drops_it(db, settings, clock, receiver):
    """URLs are parsed once and remembered; the verdict on their host still follows the
    allowlist of the send."""
    make_webhook(settings, clock, receiver.url())
    strict = settings.replace(allow_private_networks=())
    for send_settings in (settings, strict):
        emit(settings, clock)
        async with build_client(send_settings) as client:
            await Engine(Dispatcher(send_settings, client, clock, random=NO_JITTER)).run()
    by_status = {delivery.status: delivery for delivery in Delivery.select()}
    assert sorted(by_status) == sorted([SUCCEEDED, FAILED])
    assert by_status[FAILED].last_error.startswith("blocked: ")
    assert len(receiver.requests) == 1
