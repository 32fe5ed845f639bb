"""The API's own OpenAPI description, and schemathesis throwing generated requests at every
operation in it: whatever it sends, the answer is never a 5xx. No sender runs, so nothing
leaves the machine."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings as hypothesis_settings

from tests.helpers import ADMIN

CASES_PER_OPERATION = 40


def test_the_description_covers_every_api_route(api, settings, clock):
    from app.main import create_app

    documented = set(api.get("/api/v1/openapi.json").json()["paths"])
    served = {route.path for route in create_app(settings, clock=clock).routes if route.path.startswith("/api/")}
    served.discard("/api/v1/openapi.json")
    assert served - documented == set(), "describe these routes in app/web/api/openapi.py"
    assert documented - served == set(), "these described routes do not exist"


def test_generated_requests_never_get_a_5xx(api):
    schema = schemathesis.openapi.from_dict(api.get("/api/v1/openapi.json").json())
    base_url = str(api.base_url).rstrip("/")
    cases, server_errors = [], []

    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("x-streaming"):
            continue  # a stream that opens lasts until the client leaves: tests/process/test_listen.py covers it

        @hypothesis_settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            response = case.call(base_url=base_url, headers=ADMIN)
            cases.append(operation.label)
            if response.status_code >= 500:
                server_errors.append(f"{operation.label}: {response.status_code} {response.text[:200]}")

        check()
    print(f"schemathesis: {len(cases)} generated requests over {len(set(cases))} operations")
    assert not server_errors, "\n".join(server_errors[:10])
    assert len(set(cases)) >= 12
