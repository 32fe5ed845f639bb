"""`notify` in PATCH /api/v1/tenants/{tenant}: whom the owners' mail about failing webhooks
goes to (docs/operations.md), next to the tenant's contract defaults."""

from __future__ import annotations

from app.services import notifications
from app.services.users import create_user
from app.storage.models import Tenant
from tests.helpers import ADMIN, key_for


def test_notify_is_set_read_and_reset(api, clock):
    acme = key_for("acme", clock)
    tenant = Tenant.get(Tenant.slug == "acme")
    create_user("owner@acme.example", "o" * 12, tenant, clock())
    assert api.get("/api/v1/tenants/acme", headers=acme).json()["notify"] is None
    assert notifications.recipients(tenant.id) == ["owner@acme.example"], "by default: users named by address"

    patched = api.patch("/api/v1/tenants/acme", json={"notify": ["ops@acme.example", "cto@acme.example"]},
                        headers=ADMIN)
    assert patched.status_code == 200 and patched.json()["notify"] == ["ops@acme.example", "cto@acme.example"]
    assert api.get("/api/v1/tenants/acme", headers=acme).json()["notify"] == ["ops@acme.example", "cto@acme.example"]
    assert notifications.recipients(tenant.id) == ["ops@acme.example", "cto@acme.example"]

    assert api.patch("/api/v1/tenants/acme", json={"notify": []}, headers=ADMIN).json()["notify"] == []
    assert notifications.recipients(tenant.id) == [], "an empty list: no mail"
    assert api.patch("/api/v1/tenants/acme", json={"notify": None}, headers=ADMIN).json()["notify"] is None
    assert notifications.recipients(tenant.id) == ["owner@acme.example"]


def test_bad_addresses_are_a_422_naming_the_item(api, clock):
    key_for("acme", clock)
    for body, field in (({"notify": ["ops@acme.example", "nobody"]}, "notify[1]"), ({"notify": "ops@acme.example"},
                        "notify"), ({"notify": ["a@b.example\r\nBcc: x@evil.example"]}, "notify[0]")):
        refused = api.patch("/api/v1/tenants/acme", json=body, headers=ADMIN)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field
    assert Tenant.get(Tenant.slug == "acme").notify is None


def test_only_admin_keys_set_it(api, clock):
    acme = key_for("acme", clock)
    assert api.patch("/api/v1/tenants/acme", json={"notify": ["ops@acme.example"]}, headers=acme).status_code == 403
    assert Tenant.get(Tenant.slug == "acme").notify is None
