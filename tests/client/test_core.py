"""The client's sans-I/O core in tables: answers to typed errors, Retry-After, which
failures are retried, the backoff, batch splitting; and the package's own boundaries."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

import hookline_client
from hookline_client import _core, errors
from hookline_client.types import Emitted

CLIENT = Path(hookline_client.__file__).parent


def answer(status: int, body: object = None, **headers: str) -> _core.Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _core.Answer(status, {k.replace("_", "-"): v for k, v in headers.items()}, raw)


def error_body(message: str, field: str | None = None) -> dict:
    return {"error": {"message": message, **({"field": field} if field else {})}}


@pytest.mark.parametrize("status, invalid, kind", [
    (400, errors.InvalidInput, errors.BadRequest),
    (401, errors.InvalidInput, errors.AuthError),
    (403, errors.InvalidInput, errors.PermissionDenied),
    (404, errors.InvalidInput, errors.NotFound),
    (405, errors.InvalidInput, errors.BadRequest),
    (409, errors.InvalidInput, errors.Conflict),
    (413, errors.InvalidInput, errors.TooLarge),
    (415, errors.InvalidInput, errors.BadRequest),
    (422, errors.InvalidInput, errors.InvalidInput),
    (422, errors.InvalidEvent, errors.InvalidEvent),
    (429, errors.InvalidInput, errors.RateLimited),
    (500, errors.InvalidInput, errors.ServerError),
    (502, errors.InvalidInput, errors.ServerError),
    (503, errors.InvalidInput, errors.Unavailable),
])
def test_each_status_has_its_error_type(status, invalid, kind):
    error = _core.error_for(answer(status, error_body("data.items[2]: must be a number", "data.items[2]")), invalid)
    assert type(error) is kind
    assert (error.status, error.message, error.field, str(error)) == (
        status, "data.items[2]: must be a number", "data.items[2]", "data.items[2]: must be a number")


@pytest.mark.parametrize("body, message", [
    (b"<html>Bad Gateway</html>", "HTTP 502: <html>Bad Gateway</html>"),
    (b"", "HTTP 502"),
    ({"error": "flat"}, 'HTTP 502: {"error": "flat"}'),
    ({"error": {"message": 3}}, 'HTTP 502: {"error": {"message": 3}}'),
])
def test_an_answer_not_from_hookline_is_quoted(body, message):
    error = _core.error_for(answer(502, body))
    assert (error.message, error.field) == (message, None)


def test_retry_after_of_an_error_is_read():
    assert _core.error_for(answer(429, error_body("too many"), retry_after="3")).retry_after == 3.0


@pytest.mark.parametrize("value, now, seconds", [
    (None, None, None),
    ("", None, None),
    ("2", None, 2.0),
    (" 1.5 ", None, 1.5),
    ("-4", None, 0.0),
    ("nan", None, None),
    ("soon", None, None),
    ("Wed, 02 Dec 2026 03:00:10 GMT", 1796180400.0, 10.0),
    ("Wed, 02 Dec 2026 03:00:10 GMT", None, None),
    ("Wed, 02 Dec 2026 02:00:00 GMT", 1796180400.0, 0.0),
])
def test_retry_after_is_seconds_or_a_date(value, now, seconds):
    assert _core.parse_retry_after(value, now) == seconds


def unreachable(sent: bool) -> errors.Unreachable:
    return errors.Unreachable("ConnectError", request_sent=sent)


def api(status: int) -> errors.APIError:
    return _core.error_for(answer(status, error_body("x")))


@pytest.mark.parametrize("failure, repeatable, retried", [
    (unreachable(sent=False), False, True),  # refused: the request never left
    (unreachable(sent=False), True, True),
    (unreachable(sent=True), True, True),  # an emit: its key makes the repeat safe
    (unreachable(sent=True), False, False),  # a webhook create may have happened
    (errors.Timeout("ReadTimeout", request_sent=True), True, True),
    (errors.Timeout("ReadTimeout", request_sent=True), False, False),
    (api(429), False, True),
    (api(503), False, True),
    (api(502), True, True),
    (api(504), True, True),
    (api(502), False, False),
    (api(500), True, False),
    (api(400), True, False),
    (api(401), True, False),
    (api(409), True, False),
    (api(413), True, False),
    (api(422), True, False),
])
def test_what_is_retried(failure, repeatable, retried):
    assert _core.worth_retrying(failure, repeatable) is retried


POLICY = _core.RetryPolicy(max_attempts=5, max_elapsed=30, base_delay=0.25, max_delay=8)


@pytest.mark.parametrize("failures, retry_after, random, wait", [
    (1, None, 0.0, 0.125),  # half of base_delay ...
    (1, None, 0.999999, 0.25),  # ... up to all of it
    (2, None, 0.0, 0.25),
    (3, None, 1.0, 1.0),
    (6, None, 1.0, 8.0),  # 0.25 * 2**5 = 8, the cap
    (12, None, 1.0, 8.0),
    (1, 5.0, 0.0, 5.0),  # Retry-After is a floor ...
    (4, 1.0, 1.0, 2.0),  # ... not a ceiling
])
def test_backoff_doubles_with_jitter_and_honours_retry_after(failures, retry_after, random, wait):
    assert POLICY.backoff(failures, retry_after, random) == pytest.approx(wait)


@pytest.mark.parametrize("failures, elapsed, failure, wait", [
    (1, 0.0, unreachable(False), 0.125),
    (4, 0.0, unreachable(False), 1.0),
    (5, 0.0, unreachable(False), None),  # max_attempts reached
    (2, 29.9, unreachable(False), None),  # the wait would end past max_elapsed
    (2, 29.7, unreachable(False), 0.25),
    (1, 0.0, api(429), 0.125),
    (1, 0.0, _core.error_for(answer(429, error_body("x"), retry_after="31")), None),  # longer than the budget
    (1, 0.0, _core.error_for(answer(503, error_body("x"), retry_after="2")), 2.0),
    (1, 0.0, api(422), None),
])
def test_next_delay_is_bounded_in_count_and_time(failures, elapsed, failure, wait):
    assert POLICY.next_delay(failures, elapsed, failure, True, 0.0) == wait


def test_attempts_raise_the_last_failure_when_the_policy_ends():
    clock = [100.0]
    attempts = _core.Attempts(_core.RetryPolicy(max_attempts=3), True, clock[0], lambda: 0.0)
    assert attempts.wait_after(unreachable(False), 100.0) == 0.125
    assert attempts.wait_after(unreachable(False), 100.2) == 0.25
    last = api(503)
    with pytest.raises(errors.Unavailable) as raised:
        attempts.wait_after(last, 100.5)
    assert raised.value is last and attempts.failures == 3


def test_an_emit_body_always_has_an_idempotency_key():
    first, second = _core.emit_body("order.created", {}, None, None), _core.emit_body("order.created", {}, None, None)
    assert first["idempotency_key"].startswith("hlc_") and first["idempotency_key"] != second["idempotency_key"]
    assert _core.emit_body("a.b", [1], "acme", "k1") == {"type": "a.b", "data": [1], "idempotency_key": "k1",
                                                          "tenant": "acme"}
    call = _core.emit_call(first)
    assert (call.method, call.path, call.repeatable) == ("POST", "/api/v1/events", True)
    assert json.loads(call.content()) == first  # the key travels in the body, the same on every attempt


@pytest.mark.parametrize("event", [{"data": {}}, {"type": "a.b", "evnets": 1}, {"type": "a.b", "id": "x"}])
def test_emit_many_refuses_an_item_it_would_not_send_as_asked(event):
    with pytest.raises(ValueError, match="an event needs `type`"):
        _core.event_body(event)


def test_strict_json_fails_before_sending():
    with pytest.raises(ValueError):
        _core.emit_call(_core.emit_body("a.b", {"x": float("nan")}, None, None)).content()


@pytest.mark.parametrize("sizes, runs", [
    ([10] * 3, [[0, 1, 2]]),
    ([10] * 2001, [list(range(1000)), list(range(1000, 2000)), [2000]]),
    ([4 * 1024 * 1024, 4 * 1024 * 1024, 10], [[0], [1, 2]]),  # bytes split too
    ([8 * 1024 * 1024], [[0]]),  # one over the limit still goes, for the server to name
    ([], []),
])
def test_batches_split_at_1000_events_and_the_byte_limit(sizes, runs):
    assert list(_core.batches(sizes)) == runs


def test_answers_become_results():
    single = _core.emit_call({"type": "a.b"}).result(answer(202, {"id": "evt_1", "deliveries": 2},
                                                             idempotent_replayed="true"))
    batch = _core.batch_call([{}, {}]).result(answer(202, {"data": [{"id": "evt_2", "deliveries": 0},
                                                                     {"id": "evt_3", "deliveries": 1, "replayed": True}]}))
    assert single == Emitted("evt_1", 2, replayed=True)
    assert batch == [Emitted("evt_2", 0), Emitted("evt_3", 1, replayed=True)]
    with pytest.raises(errors.InvalidEvent):
        _core.emit_call({}).result(answer(422, error_body("type: required", "type")))
    assert _core.delete_webhook("wh_1").result(answer(204, b"")) is None


@pytest.mark.parametrize("call, method, path, params, repeatable", [
    (_core.get_webhook("wh/1"), "GET", "/api/v1/webhooks/wh%2F1", None, True),
    (_core.create_webhook("https://x", {"events": ["a.*"]}, "acme"), "POST", "/api/v1/webhooks", None, False),
    (_core.send_test("wh_1", None, None), "POST", "/api/v1/webhooks/wh_1/test", None, False),
    (_core.delete_webhook("wh_1"), "DELETE", "/api/v1/webhooks/wh_1", None, False),
    (_core.update_webhook("wh_1", {"enabled": False}), "PATCH", "/api/v1/webhooks/wh_1", None, True),
    (_core.list_deliveries("wh_1", "failed", None, 10, None), "GET", "/api/v1/webhooks/wh_1/deliveries",
     {"status": "failed", "limit": "10"}, True),
    (_core.resend_delivery("dlv_1"), "POST", "/api/v1/deliveries/dlv_1/resend", None, False),
    (_core.list_event_types(True), "GET", "/api/v1/event-types", {"include_archived": "true"}, True),
    (_core.update_event_type("a.b", {"archived": True}), "PATCH", "/api/v1/event-types/a.b", None, True),
])
def test_resource_calls(call, method, path, params, repeatable):
    assert (call.method, call.path, call.params or None, call.repeatable) == (method, path, params, repeatable)


def test_the_client_imports_only_the_standard_library_and_httpx():
    """Its own distribution: nothing of the server package `app`, no other dependency."""
    allowed = set(sys.stdlib_module_names) | {"httpx", "hookline_client"}
    for path in CLIENT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
    assert (CLIENT / "py.typed").exists()
