"""Start-up work shared by `serve` and `worker`: database, schema, catalog, bootstrap key."""

from __future__ import annotations

from app.config import Settings
from app.rules import secretbox
from app.rules.clock import Clock
from app.services.api_keys import ensure_admin_key
from app.services.catalog import seed_event_types
from app.services.tenants import get_or_create_tenant
from app.storage.db import exclusive_transaction, open_database, write_transaction
from app.storage.migrations import migrate
from app.storage.models import Tenant, Webhook


def prepare_database(settings: Settings, clock: Clock) -> None:
    secretbox.configure(settings.encryption_keys, settings.encryption_key_file)
    open_database(settings.database_url, behind_pooler=bool(settings.database_direct_url))
    migrate()
    now = clock()
    # Every process seeds the same rows at start: one at a time, or two starting together
    # would both find a row missing and one would fail on the duplicate.
    with exclusive_transaction():
        get_or_create_tenant(Tenant.DEFAULT, now)
        seed_event_types(settings.event_types, now)
        if settings.admin_key:
            ensure_admin_key(settings.admin_key, now)



def reencrypt_secrets() -> int:
    """Key rotation: once a new key is first in encryption_keys, rewrite every stored secret
    with it, so the old key can be removed."""
    with write_transaction():
        return Webhook.reencrypt_all()
