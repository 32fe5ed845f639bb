"""A listen session's push builds the request a real send makes, and the CLI's report
becomes an attempt like a receiver's answer."""

from __future__ import annotations

import pytest

from app.delivery.listen_push import LocalAnswer
from app.delivery.outbound import request_headers
from app.delivery.outbound import build_client, send_attempt
from app.delivery.policy import Failure, Outcome, classify
from app.delivery.queue import claim_due
from tests.helpers import emit, make_webhook


@pytest.mark.anyio
async def test_a_push_carries_the_headers_of_a_real_send(db, settings, clock, receiver):
    make_webhook(settings, clock, receiver.url(), headers={"X-Team": "billing"})
    emit(settings, clock)
    (claimed,) = claim_due(clock(), 10, settings.lease_seconds)
    body = claimed.payload.envelope
    async with build_client(settings) as client:
        sent = await send_attempt(client.transport, claimed, body, settings, clock())
    assert sent.status_code == 200
    assert request_headers(claimed, body, clock()) == sent.request_headers
    (request,) = receiver.wait_for(1)
    assert {k: request.headers[k.lower()] for k in sent.request_headers} == sent.request_headers


@pytest.mark.parametrize("answer, status_code, error, failure, outcome", [
    (LocalAnswer(200, 5), 200, None, None, Outcome.SUCCEEDED),
    (LocalAnswer(500, 5, "boom"), 500, None, None, Outcome.RETRY),
    (LocalAnswer(410, 5), 410, None, None, Outcome.GONE),
    (LocalAnswer(None, 0, error="connection refused"), None, "local: connection refused", Failure.CONNECTION,
     Outcome.RETRY),
    (LocalAnswer(None, 8000, error="timed out after 8s"), None, "local: timed out after 8s", Failure.TIMEOUT,
     Outcome.RETRY),
])
def test_the_report_is_an_attempt(clock, answer, status_code, error, failure, outcome):
    attempt = answer.attempt(clock(), {"webhook-id": "evt_1"})
    assert (attempt.status_code, attempt.error, attempt.failure) == (status_code, error, failure)
    assert (attempt.duration_ms, attempt.request_headers, attempt.started_at) == (answer.duration_ms,
                                                                                  {"webhook-id": "evt_1"}, clock())
    assert classify(attempt.status_code, attempt.failure) is outcome
