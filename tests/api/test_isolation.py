"""Tenant isolation, generated from the route table: every route with a path parameter,
API and dashboard, every method, is called by tenant "acme" with ids that belong to tenant
"globex", and must answer 404 (or 403) without changing a single row.

A new route whose parameter is not in PARAMS (or EXEMPT, with a reason) fails this test,
so no route can skip it. To cover a new kind of id, add it to `owned_objects` and PARAMS;
if a route needs a body that passes validation before the lookup, add it to BODIES.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from starlette.routing import Mount, Route

from app.services.api_keys import create_api_key
from app.services.events import emit_event
from app.services.listen_sessions import open_session
from app.services.inspector import new_endpoint
from app.services.tenants import get_or_create_tenant
from app.services.users import create_user
from app.services.webhooks import create_webhook
from app.storage.db import database
from app.storage.models import (
    ApiKey, Attempt, Delivery, Event, EventType, InspectorEndpoint, InspectorRequest, Recovery, Tenant, User, Webhook,
)
from tests.helpers import Dashboard, ServerThread, sign_in

# (the collection segment before the parameter, the parameter) -> the kind of object it names
PARAMS = {
    ("webhooks", "id"): "webhook",
    ("deliveries", "id"): "delivery",
    ("api-keys", "id"): "api_key",
    ("events", "id"): "event",
    ("recoveries", "id"): "recovery",
    ("tenants", "tenant"): "tenant",
    ("event-types", "name"): "event_type",
    ("event-types", "id"): "event_type",
    ("listen", "id"): "listen_session",
    ("inspector", "id"): "inspector_endpoint",
}
# Global or admin-only objects: a tenant's caller may not change them at all, so only the
# refusal is checked (no "own object" control call).
ADMIN_ONLY = {"tenant", "event_type"}
# Global objects every caller may read: the event-type catalog is shared by all tenants.
READABLE_BY_ALL = {"event_type"}
EXEMPT = {
    ("portal", "token"): "a portal token is a signed bearer credential for one tenant, by design",
    ("inspect", "token"): "a capture URL takes any sender's request, by design (tests/api/test_capture.py)",
}
# Bodies that pass validation, so that a missing scope check would reach the lookup.
FORM = {"name": "pwned", "url": "https://example.com/pwned", "events": "order.created", "enabled": "on",
        "description": "", "headers": "", "type": "order.created", "data": "{}", "since": "2020-01-01T00:00"}
# A function of the caller's own objects where the body names one of them.
BODIES = {
    ("PATCH", "/api/v1/webhooks/{id}"): lambda mine: {"name": "pwned", "enabled": False},
    ("POST", "/api/v1/webhooks/{id}/recover"): lambda mine: {"since": "2020-01-01T00:00:00Z"},
    ("POST", "/api/v1/events/{id}/replay"): lambda mine: {"webhook_id": mine["webhook"]},
    ("POST", "/api/v1/listen/{id}/results"): lambda mine: {"delivery_id": mine["delivery"], "status_code": 200,
                                                            "duration_ms": 1},
}
REFUSED = {403, 404}
PASSWORD = "isolation test password"


def owned_objects(slug: str, settings, now) -> dict[str, str]:
    """One object of every kind for tenant `slug`, with a delivery attempt logged."""
    tenant = get_or_create_tenant(slug, now)
    webhook = create_webhook(tenant, {"url": f"https://{slug}.example/hook"}, settings, now).webhook
    emitted = emit_event(tenant, "order.created", {"marker": f"{slug}-private-data"}, settings, now)
    delivery = Delivery.get(Delivery.event == emitted.event_id)
    Attempt.create(delivery=delivery, number=1, started_at=now, duration_ms=1, request_headers={}, response_status=500)
    recovery = Recovery.create(webhook=webhook, since=now, total=0, created_at=now)
    session = open_session(tenant, ["*"], f"http://localhost:3000/{slug}", None, settings, now).webhook
    return {
        "webhook": webhook.id,
        "delivery": delivery.id,
        "event": emitted.event_id,
        "api_key": create_api_key(tenant, now).key.id,
        "recovery": recovery.id,
        "tenant": slug,
        "event_type": "order.created",
        "listen_session": session.id,
        "inspector_endpoint": new_endpoint(tenant, f"{slug} inspector", now).id,
    }


def snapshot() -> list:
    """Every row but a key's last use, which the caller's own key notes as it is used."""
    models = [Tenant, EventType, Webhook, Event, Delivery, Attempt, Recovery, User, InspectorEndpoint, InspectorRequest]
    keys = ApiKey.select(*(field for field in ApiKey._meta.sorted_fields if field is not ApiKey.last_used_at))
    return [sorted(map(repr, query.tuples())) for query in [keys, *(model.select() for model in models)]]


def methods_of(route: Route) -> list[str]:
    if route.methods:
        return sorted(route.methods - {"HEAD"})
    endpoint = route.endpoint  # an HTTPEndpoint class answers the methods it defines
    return [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if hasattr(endpoint, m.lower())]


def param_kinds(path: str) -> dict[str, str]:
    """{param: kind} for a route path; raises KeyError naming an uncovered parameter."""
    kinds = {}
    for segment, param in re.findall(r"([^/{}]+)/\{(\w+)(?::\w+)?\}", path):
        if (segment, param) in EXEMPT:
            kinds[param] = "exempt"
        elif (segment, param) in PARAMS:
            kinds[param] = PARAMS[(segment, param)]
        else:
            raise KeyError(f"{path}: parameter {{{param}}} after /{segment}/ is not covered; add it to PARAMS or EXEMPT")
    return kinds


@pytest.fixture
def world(settings, clock):
    from app.main import create_app

    app = create_app(settings, clock=clock, run_sender=False)
    server = ServerThread(app, lifespan="on").start()
    try:
        now = clock()
        mine, theirs = owned_objects("acme", settings, now), owned_objects("globex", settings, now)
        key = create_api_key(Tenant.get(Tenant.slug == "acme"), now).plaintext
        create_user("acme-user", PASSWORD, Tenant.get(Tenant.slug == "acme"), now)
        create_user("globex-user", PASSWORD, Tenant.get(Tenant.slug == "globex"), now)
        with httpx.Client(base_url=server.url(), timeout=30) as api, httpx.Client(base_url=server.url(), timeout=30) as browser:
            yield app, api, {"Authorization": f"Bearer {key}"}, sign_in(browser, "acme-user", PASSWORD), mine, theirs
    finally:
        server.stop()
        database.close()


def call(api: httpx.Client, key: dict, dashboard: Dashboard, method: str, template: str, path: str,
         mine: dict) -> httpx.Response:
    if template.startswith("/api/"):
        body = BODIES.get((method, template), lambda mine: {})(mine)
        content = None if method in ("GET", "DELETE") else json.dumps(body).encode()
        headers = {**key, "Content-Type": "application/json"}
        return api.request(method, path, content=content, headers=headers)
    if method == "GET":  # a page may redirect to the one that shows it (/webhooks/{id} to its Deliveries tab)
        return dashboard.get(path, follow_redirects=True)
    return dashboard.post(path, FORM)


def test_every_route_with_an_id_refuses_another_tenants_ids(world):
    app, api, key, dashboard, mine, theirs = world
    checked, problems = [], []
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.path == "/static", f"mount {route.path}: walk its routes here too"  # static files only
            continue
        kinds = param_kinds(route.path)  # fails here for a parameter nobody thought of
        if not kinds or "exempt" in kinds.values():
            continue
        for method in methods_of(route):
            if method == "GET" and set(kinds.values()) <= READABLE_BY_ALL:
                continue
            before = snapshot()
            path = route.path_format.format(**{param: theirs[kind] for param, kind in kinds.items()})
            response = call(api, key, dashboard, method, route.path, path, mine)
            if response.status_code not in REFUSED:
                problems.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            if snapshot() != before:
                problems.append(f"{method} {path}: changed another tenant's rows")
            if any(value in response.text for value in ("globex-private-data", "globex.example")):
                problems.append(f"{method} {path}: the answer shows another tenant's data")
            if method == "GET" and not ADMIN_ONLY & set(kinds.values()):
                own = route.path_format.format(**{param: mine[kind] for param, kind in kinds.items()})
                if call(api, key, dashboard, method, route.path, own, mine).status_code != 200:
                    problems.append(f"GET {own}: the control call with the caller's own ids did not answer 200")
            checked.append(f"{method} {route.path}")
    assert not problems, "\n".join(problems)
    assert len(checked) >= 20, checked


@pytest.mark.parametrize(
    "path, covered",
    [
        ("/api/v1/webhooks/{id}/rotate-secret", True),
        ("/api/v1/events/{id}/replay", True),
        ("/api/v1/recoveries/{id}", True),
        ("/api/v1/event-types/{name}", True),
        ("/portal/{token}", True),
        ("/api/v1/widgets/{id}", False),
        ("/webhooks/{id}/attachments/{attachment_id}", False),
    ],
)
def test_uncovered_parameters_fail_the_walk(path, covered):
    if covered:
        param_kinds(path)
    else:
        with pytest.raises(KeyError, match="is not covered"):
            param_kinds(path)
