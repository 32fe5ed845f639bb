"""The listen endpoints' answers to bad requests: a 4xx naming the field, never a 5xx. The
stream itself is tested with the real CLI (tests/process/test_listen.py)."""

from __future__ import annotations

import pytest

from app.rules.errors import InvalidInput
from app.services import listen_sessions
from app.services.tenants import named
from app.storage.models import Webhook
from app.web.api.listen import local_answer
from tests.helpers import ADMIN


@pytest.mark.parametrize("params, field", [
    ({"forward_to": "localhost:3000"}, "forward_to"),
    ({}, "forward_to"),
    ({"forward_to": "http://localhost:3000/w", "events": "order..x"}, "events"),
])
def test_a_stream_that_cannot_open_answers_422_naming_the_field(api, params, field):
    response = api.get("/api/v1/listen", params=params, headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == field


def test_a_stream_needs_a_key(api):
    response = api.get("/api/v1/listen", params={"forward_to": "http://localhost:3000/w"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_a_stream_refuses_another_tenant_for_a_tenant_key(api, tenant_key):
    response = api.get("/api/v1/listen", params={"forward_to": "http://localhost:3000/w", "tenant": "globex"},
                       headers=tenant_key)
    assert response.status_code == 403 and response.json()["error"]["field"] == "tenant"


def test_a_result_nobody_waits_for_is_a_404(api):
    response = api.post("/api/v1/listen/wh_nope/results", json={"delivery_id": "dlv_x", "status_code": 200,
                                                                 "duration_ms": 3}, headers=ADMIN)
    assert response.status_code == 404 and "timed out, or the session ended" in response.json()["error"]["message"]


def test_a_result_with_an_unknown_field_is_refused_by_name(api):
    response = api.post("/api/v1/listen/wh_x/results", json={"delivery_id": "d", "duration_ms": 1, "extra": 1},
                        headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == "extra"


@pytest.mark.parametrize("fields, field", [
    ({"status_code": 200, "duration_ms": 1}, "delivery_id"),
    ({"delivery_id": "d", "status_code": 99, "duration_ms": 1}, "status_code"),
    ({"delivery_id": "d", "status_code": True, "duration_ms": 1}, "status_code"),
    ({"delivery_id": "d", "status_code": 200, "duration_ms": -1}, "duration_ms"),
    ({"delivery_id": "d", "status_code": 200, "duration_ms": 1.5}, "duration_ms"),
    ({"delivery_id": "d", "status_code": 200, "duration_ms": 1, "response_body": 5}, "response_body"),
    ({"delivery_id": "d", "status_code": None, "duration_ms": 1}, "error"),
])
def test_bad_results_name_their_field(api, fields, field):
    response = api.post("/api/v1/listen/wh_x/results", json=fields, headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"]["field"] == field


@pytest.mark.parametrize("fields, expected", [
    ({"status_code": 500, "duration_ms": 7, "response_body": "x" * 5000},
     (500, 7, "x" * 4096, None)),
    ({"status_code": None, "duration_ms": 0, "error": "connection refused"}, (None, 0, None, "connection refused")),
])
def test_a_local_answer_is_read_from_the_report(fields, expected):
    answer = local_answer({"delivery_id": "d", **fields})
    assert (answer.status_code, answer.duration_ms, answer.response_body, answer.error) == expected


def test_a_local_answer_without_status_or_error_is_refused():
    with pytest.raises(InvalidInput):
        local_answer({"delivery_id": "d", "status_code": None, "duration_ms": 1})


@pytest.mark.parametrize("method, path, body", [
    ("PATCH", "/api/v1/webhooks/{id}", {"url": "https://example.com/elsewhere"}),
    ("DELETE", "/api/v1/webhooks/{id}", None),
    ("POST", "/api/v1/webhooks/{id}/rotate-secret", {}),
])
def test_a_sessions_webhook_is_the_clis_to_change_or_end(api, settings, clock, method, path, body):
    """Changed here, the CLI would forward with a stale secret or to a webhook that is gone."""
    opened = listen_sessions.open_session(named("default"), ["*"], "http://localhost:3000/w", None, settings, clock())
    response = api.request(method, path.format(id=opened.webhook.id), json=body, headers=ADMIN)
    assert response.status_code == 409, response.text
    assert "hookline listen session" in response.json()["error"]["message"]
    kept = Webhook.get_by_id(opened.webhook.id)
    assert (kept.url, kept.secret, kept.deleted_at) == ("http://localhost:3000/w", opened.secret, None)
