"""Rate limits at the API: emit and sign-in answering 429 (the buckets: tests/unit/test_token_bucket.py)."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup

from app.config import Settings
from app.storage.models import Event
from tests.helpers import ADMIN, ADMIN_PASSWORD, ADMIN_USER, serving


def emit(client, headers=ADMIN):
    return client.post("/api/v1/events", json={"type": "order.paid"}, headers=headers)


def test_emit_is_limited_per_api_key(settings, clock, tenant_key_factory):
    with serving(settings.replace(emit_rate_limit="3/1s"), clock, run_sender=False) as client:
        other = tenant_key_factory("globex")
        assert [emit(client).status_code for _ in range(3)] == [202, 202, 202]
        refused = emit(client)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        assert "too many events for this API key" in refused.json()["error"]["message"]
        assert emit(client, other).status_code == 202, "another key has its own budget"
        clock.advance(1)
        assert emit(client).status_code == 202
    assert Event.select().count() == 5


def test_emit_is_limited_per_client_address_before_the_key_is_checked(settings, clock):
    with serving(settings.replace(emit_ip_rate_limit="2/10s"), clock, run_sender=False) as client:
        assert emit(client, {"Authorization": "Bearer hl_wrong"}).status_code == 401
        assert emit(client).status_code == 202
        refused = emit(client)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "5"
        assert "from this address" in refused.json()["error"]["message"]


def test_default_limits_do_not_throttle_a_busy_emitter(settings, clock):
    defaults = Settings()
    with serving(settings.replace(emit_rate_limit=defaults.emit_rate_limit), clock, run_sender=False) as client:
        assert all(emit(client).status_code == 202 for _ in range(300))


@pytest.fixture
def tenant_key_factory(clock):
    from tests.helpers import key_for

    return lambda slug: key_for(slug, clock)


def login(client, name, password):
    page = BeautifulSoup(client.get("/login").text, "html.parser")
    token = page.select_one("input[name=csrf_token]")["value"]
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token})


def test_failed_sign_ins_are_limited_per_address_and_user(settings, clock):
    from app.services.users import create_first_admin

    limited = settings.replace(login_rate_limit="3/15m", login_ip_rate_limit="5/15m")
    with serving(limited, clock, run_sender=False) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        assert [login(client, ADMIN_USER, "wrong").status_code for _ in range(3)] == [422, 422, 422]
        refused = login(client, ADMIN_USER, ADMIN_PASSWORD)  # even the right password waits
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "300"
        error = BeautifulSoup(refused.text, "html.parser").select_one(".form-error").text
        assert "Too many failed sign-ins" in error and "300 seconds" in error
        assert BeautifulSoup(refused.text, "html.parser").select_one("input[name=name]")["value"] == ADMIN_USER

        # Other names from the same address have their own budget, up to the address's.
        assert [login(client, "mallory", "x").status_code for _ in range(3)] == [422, 422, 429]
        clock.advance(15 * 60)
        assert login(client, ADMIN_USER, ADMIN_PASSWORD).status_code == 303


def test_successful_sign_ins_are_not_counted(settings, clock):
    from app.services.users import create_first_admin

    with serving(settings.replace(login_rate_limit="2/15m"), clock, run_sender=False) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, clock())
        assert all(login(client, ADMIN_USER, ADMIN_PASSWORD).status_code == 303 for _ in range(5))
