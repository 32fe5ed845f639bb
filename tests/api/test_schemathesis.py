"""The API's own OpenAPI description, and schemathesis throwing generated requests at every
operation in it: whatever it sends, the answer is never a 5xx, its status is one the
description lists, and its body matches the schema given for that status (the schemas are
exact: every field required, no others allowed). No sender runs, so nothing leaves the machine."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

from app.storage.models import FAILED, Attempt, Delivery
from tests.helpers import ADMIN, create_webhook, emit_over_api

CASES_PER_OPERATION = 40
# Of the answers, not of how the API treats invalid input (tests/api/test_faults_input.py does).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_description_covers_every_api_route(api, settings, clock):
    from app.main import create_app

    documented = set(api.get("/api/v1/openapi.json").json()["paths"])
    served = {route.path for route in create_app(settings, clock=clock).routes if route.path.startswith("/api/")}
    served.discard("/api/v1/openapi.json")
    assert served - documented == set(), "describe these routes in app/web/api/openapi.py"
    assert documented - served == set(), "these described routes do not exist"


# Methods whose generated requests keep a random id: the seeded rows must outlive them, and
# a test send waits for an attempt that no sender makes.
KEEP_RANDOM_ID = {("DELETE", "/api/v1/webhooks/{id}"), ("POST", "/api/v1/webhooks/{id}/test")}


def seeded_ids(api, clock) -> dict[str, str]:
    """Rows for the generated requests to find, so that answers with data in them (a
    delivery with an attempt, an event with its fan-out, stats) are validated too, not only 404s."""
    webhook = create_webhook(api, events=["*"])
    event_id = emit_over_api(api)
    delivery = Delivery.get(Delivery.event == event_id)
    Attempt.create(delivery=delivery.id, number=1, started_at=clock(), duration_ms=12,
                   request_headers={"webhook-id": delivery.id}, response_status=500, response_body="no", error=None)
    Delivery.update(status=FAILED, attempts=1, last_status_code=500, last_error="HTTP 500").where(
        Delivery.id == delivery.id).execute()
    recovery = api.post(f"/api/v1/webhooks/{webhook['id']}/recover", json={"since": "2000-01-01T00:00:00Z"},
                        headers=ADMIN).json()
    return {"/api/v1/webhooks/": webhook["id"], "/api/v1/events/": event_id, "/api/v1/deliveries/": delivery.id,
            "/api/v1/recoveries/": recovery["id"], "/api/v1/event-types/": "order.created"}


def with_seeded_id(case, seeded: dict[str, str], count: int) -> None:
    """Every other case of an operation names a seeded row instead of a random one."""
    if count % 2 or (case.method, case.path) in KEEP_RANDOM_ID:
        return
    for prefix, value in seeded.items():
        for name in ("id", "name"):
            if case.path.startswith(prefix) and name in (case.path_parameters or {}):
                case.path_parameters[name] = value


def test_generated_requests_get_answers_the_description_promises(api, clock):
    schema = schemathesis.openapi.from_dict(api.get("/api/v1/openapi.json").json())
    base_url = str(api.base_url).rstrip("/")
    seeded = seeded_ids(api, clock)
    cases, failures = [], []
    # A stream that opens lasts until the client leaves: tests/process/test_listen.py covers it.
    operations = [result.ok() for result in schema.get_all_operations()
                  if not result.ok().definition.raw.get("x-streaming")]

    for operation in operations:

        @hypothesis_settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            with_seeded_id(case, seeded, len(cases))
            cases.append(operation.label)
            try:
                case.call_and_validate(base_url=base_url, headers=ADMIN, checks=CHECKS)
            except Exception as exc:  # noted, not raised: hypothesis would spend minutes shrinking it
                failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:600]}")

        check()
    print(f"schemathesis: {len(cases)} generated requests over {len(set(cases))} operations")
    assert not failures, "\n\n".join(failures[:5])
    assert set(cases) == {operation.label for operation in operations}, "every operation was called"
