"""Start-up work shared by `serve` and `worker`: database, schema, catalog, bootstrap key."""

from __future__ import annotations

from app.clock import Clock
from app.config import Settings
from app.db import migrate, open_database
from app.models import Tenant
from app.services.api_keys import ensure_admin_key
from app.services.catalog import seed_event_types
from app.services.tenants import get_or_create_tenant


def prepare_database(settings: Settings, clock: Clock) -> None:
    open_database(settings.database_url)
    migrate()
    now = clock()
    get_or_create_tenant(Tenant.DEFAULT, now)
    seed_event_types(settings.event_types, now)
    if settings.admin_key:
        ensure_admin_key(settings.admin_key, now)
