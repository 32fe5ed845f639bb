"""`/inspect/<token>`: any sender, any method and body, no key or session; bounded in rate,
body size, kept requests and lifetime; never a 500."""

from __future__ import annotations

import dataclasses
import socket
from urllib.parse import urlsplit

import pytest

from app.services import inspector
from app.services.retention import purge
from app.storage.models import InspectorEndpoint, InspectorRequest, Tenant
from tests.helpers import serving


@pytest.fixture
def endpoint(api, clock) -> InspectorEndpoint:
    return inspector.new_endpoint(Tenant.get(Tenant.slug == "default"), "tests", clock())


def url(endpoint: InspectorEndpoint) -> str:
    return f"/inspect/{endpoint.token}"


def test_any_method_is_recorded_as_sent_and_answered_with_json(api, endpoint):
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = api.request(method, url(endpoint) + "?q=1", content=b"body " + method.encode(),
                               headers={"X-Custom": "yes"})
        assert response.status_code == 200 and response.json()["received"] is True
    rows = list(InspectorRequest.select().order_by(InspectorRequest.received_at, InspectorRequest.id))
    assert [row.method for row in rows] == ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    assert bytes(rows[1].body) == b"body POST" and rows[1].path == url(endpoint) + "?q=1"
    assert ["x-custom", "yes"] in rows[1].headers


@pytest.mark.postgres  # bytea on PostgreSQL
@pytest.mark.parametrize("content_type, body", [
    ("application/x-www-form-urlencoded", b"a=%ff%fe&\x00\xff"),  # the dashboard's form check would say 400
    ("application/json", b'{"broken": '),
    ("multipart/form-data; boundary=x", b"--x\r\nnot really multipart"),
    ("application/octet-stream", bytes(range(256))),
    ("text/plain; charset=utf-16", "hé".encode("utf-16")),
])
def test_odd_bodies_are_stored_byte_for_byte(api, endpoint, content_type, body):
    response = api.post(url(endpoint), content=body, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    assert bytes(InspectorRequest.get().body) == body


def test_no_session_or_csrf_token_is_needed_even_when_the_browser_says_cross_site(api, endpoint):
    response = api.post(url(endpoint), content=b"x", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200


def test_unknown_and_expired_tokens_answer_404_json(api, endpoint, clock):
    unknown = api.post("/inspect/not-a-token", content=b"x")
    assert unknown.status_code == 404 and "no test endpoint" in unknown.json()["error"]["message"]
    clock.advance(inspector.LIFETIME.total_seconds())
    assert api.post(url(endpoint), content=b"x").status_code == 404
    assert not InspectorRequest.select().exists()


def test_a_body_over_the_bound_is_refused_with_413_and_not_recorded(api, endpoint):
    at_bound = api.post(url(endpoint), content=b"a" * inspector.MAX_BODY_BYTES)
    assert at_bound.status_code == 200
    over = api.post(url(endpoint), content=b"a" * (inspector.MAX_BODY_BYTES + 1))
    assert over.status_code == 413 and "not recorded" in over.json()["error"]["message"]
    chunked = api.post(url(endpoint), content=iter([b"a" * inspector.MAX_BODY_BYTES, b"b"]))
    assert chunked.status_code == 413, "without a Content-Length the stream is counted"
    assert InspectorRequest.select().count() == 1


@pytest.mark.postgres
def test_only_the_newest_requests_are_kept(api, endpoint, clock):
    for number in range(inspector.KEEP_REQUESTS + 3):
        api.post(url(endpoint), content=str(number).encode())
        clock.advance(1)
    kept = sorted(int(bytes(row.body)) for row in InspectorRequest.select())
    assert kept == list(range(3, inspector.KEEP_REQUESTS + 3))


def test_each_token_is_rate_limited_with_retry_after(settings, clock):
    limited = dataclasses.replace(settings, inspector_rate_limit="3/1m")
    with serving(limited, clock, run_sender=False) as client:
        tenant = Tenant.get(Tenant.slug == "default")
        first, second = (inspector.new_endpoint(tenant, name, clock()) for name in ("a", "b"))
        assert [client.post(url(first), content=b"x").status_code for _ in range(3)] == [200] * 3
        refused = client.post(url(first), content=b"x")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
        assert client.post(url(second), content=b"x").status_code == 200, "another token has its own bucket"
        clock.advance(20)
        assert client.post(url(first), content=b"x").status_code == 200
    assert InspectorRequest.select().count() == 5


def test_tokens_are_long_and_random(api, clock):
    tenant = Tenant.get(Tenant.slug == "default")
    tokens = {inspector.new_endpoint(tenant, "", clock()).token for _ in range(3)}
    assert len(tokens) == 3 and all(len(token) == 32 for token in tokens)


def test_a_raw_request_with_a_non_ascii_header_and_a_lying_length_gets_an_answer(api, endpoint):
    """Bytes no HTTP client library sends: never a 500, and the server keeps serving."""
    host, port = urlsplit(str(api.base_url)).hostname, urlsplit(str(api.base_url)).port
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(f"POST {url(endpoint)} HTTP/1.1\r\nHost: x\r\nX-Odd: \xe9\xff\r\n".encode("latin-1")
                    + b"Content-Length: 3\r\nConnection: close\r\n\r\nabc")
        answer = raw.makefile("rb").readline()
    assert answer.startswith(b"HTTP/1.1 200")
    assert ["x-odd", "\xe9\xff"] in InspectorRequest.get().headers
    assert api.get("/healthz").status_code == 200


@pytest.mark.postgres  # the requests go by ON DELETE CASCADE
def test_the_retention_purge_deletes_expired_endpoints_and_what_they_received(api, endpoint, settings, clock):
    api.post(url(endpoint), content=b"x")
    fresh = inspector.new_endpoint(Tenant.get(Tenant.slug == "default"), "fresh", clock() + inspector.LIFETIME / 2)
    clock.advance(inspector.LIFETIME.total_seconds())
    report = purge(clock(), settings)
    assert report.test_endpoints == 1 and "(and 1 expired test endpoints)" in report.summary()
    assert [e.id for e in InspectorEndpoint.select()] == [fresh.id]
    assert not InspectorRequest.select().exists()
