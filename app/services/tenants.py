"""Tenants: created on first use, so single-tenant installs never have to think about them.

"First use" is the write that is accepted: a request that names a new tenant gets a
`NamedTenant`, which the service turns into a row (`for_write`) inside the transaction of
its write, so a request that is rejected (a bad batch item, a bad URL) leaves no tenant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import peewee

from app.rules import contracts
from app.rules.errors import Forbidden, InvalidInput, NotFound, reject_unknown
from app.services import notifications
from app.storage import hotsql
from app.storage.db import write_transaction
from app.storage.models import ApiKey, Tenant, Webhook

# A tenant's defaults for its webhooks (app/rules/contracts.py); null: the installation's.
DEFAULTS = ("signatures", "envelope", "auto_disable", "retry_schedule", "headers")
# What PATCH /api/v1/tenants/{tenant} sets: the defaults, and whom the owners' mail goes to
# (app/services/notifications.py; null: the tenant's users whose names are addresses).
EDITABLE = (*DEFAULTS, "notify")

SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def get_or_create_tenant(slug: str, now: datetime, field: str = "tenant", found: dict | None = None) -> Tenant:
    """`found`: tenants this transaction already read (see events.Lookups). Only tenants
    that existed before are added, never one created here: the savepoint that created it
    may still roll back."""
    checked_slug(slug, field)
    if found is not None and slug in found:
        return found[slug]
    rows = hotsql.select(_by_slug, slug)
    tenant = rows[0] if rows else None
    if tenant is None:
        try:
            # In a savepoint: on PostgreSQL a failed statement aborts the whole transaction,
            # which may be a group commit's or a batch's, unless rolled back to one.
            with write_transaction():
                tenant = Tenant.create(slug=slug, created_at=now)
        except peewee.IntegrityError:  # another request created it first
            tenant = Tenant.get(Tenant.slug == slug)
    elif found is not None:
        found[slug] = tenant
    return tenant


def checked_slug(slug: object, field: str = "tenant") -> str:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidInput(field, "must be 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
    return slug


def _by_slug(slug: str):
    return Tenant.select().where(Tenant.slug == slug)


@dataclass(frozen=True)
class NamedTenant:
    """A tenant a request named by its (checked) slug, which may not exist yet."""

    slug: str


def named(slug: object, field: str = "tenant") -> NamedTenant:
    """The tenant `slug` names, checked now and created (if new) by the write that uses it."""
    return NamedTenant(checked_slug(slug, field))


def find_tenant(slug: object) -> Tenant | None:
    return Tenant.get_or_none(Tenant.slug == slug)


def admin_view(chosen_id: object, own: Tenant) -> tuple[Tenant, tuple[Tenant, ...]]:
    """What an admin acts for in the dashboard: the tenant chosen in the session (their own
    if none is chosen, or it is gone), and every tenant to switch to, by slug."""
    chosen = Tenant.get_or_none(Tenant.id == chosen_id) if chosen_id is not None else None
    return chosen or own, tuple(Tenant.select().order_by(Tenant.slug))


def acting_tenant(key: ApiKey, requested: object) -> Tenant | NamedTenant:
    """The tenant a write is for: the key's own, or any named one for an admin key (created
    on first use by `for_write`)."""
    if key.is_admin:
        return named(requested or Tenant.DEFAULT)
    refuse_other_tenant(key, requested)
    return key.tenant


def for_write(tenant: Tenant | NamedTenant, now: datetime, found: dict | None = None) -> Tenant:
    """The row of `tenant`, created if new: call it inside the write's transaction."""
    if isinstance(tenant, Tenant):
        return tenant
    return get_or_create_tenant(tenant.slug, now, found=found)


def refuse_other_tenant(key: ApiKey, requested: object) -> None:
    if not key.is_admin and requested is not None and requested != key.tenant.slug:
        raise Forbidden(f"tenant: this API key belongs to tenant {key.tenant.slug!r}", "tenant")


def tenant_for_key(key: ApiKey, slug: str) -> Tenant:
    """The tenant an API key may read: any for an admin key, its own for a tenant key."""
    refuse_other_tenant(key, slug)
    tenant = find_tenant(checked_slug(slug))
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


def update_tenant_defaults(key: ApiKey, slug: str, fields: dict, installation: str | None, now: datetime) -> Tenant:
    """Admin keys: set (or, with null, unset) the tenant's defaults; the tenant is created
    if new. The webhooks that set none of their own follow at their next claim. `headers`
    replaces the tenant's default headers as a whole (a null value drops a header of
    Hookline's or the installation's); each webhook's own headers merge over them per name.

    Signatures that include the `standard` scheme (the tenant's new ones, or with null the
    `installation`'s, None: Hookline's) are refused while a webhook that would inherit them
    has a secret that cannot sign them (a user's own, not `whsec_`)."""
    if not key.is_admin:
        raise Forbidden("only admin API keys change a tenant's defaults")
    reject_unknown(fields, EDITABLE)
    changes = contracts.stored_parts(fields)
    if "retry_schedule" in fields:
        changes["retry_schedule"] = contracts.parse_retry_schedule(fields["retry_schedule"])
    if "notify" in fields:
        changes["notify"] = notifications.checked_recipients(fields["notify"])
    with write_transaction():
        tenant = get_or_create_tenant(checked_slug(slug), now)
        inherited = changes["signatures"] if "signatures" in changes else tenant.signatures
        inherited = inherited or installation
        signatures = contracts.compiled_signatures(inherited) if inherited else contracts.DEFAULT_SIGNATURES
        if "signatures" in changes and contracts.needs_standard_secret(signatures):
            _refuse_unfit_secrets(tenant)
        if fields.get("headers") is not None:
            changes["headers"] = contracts.stored_default_headers(fields["headers"], signatures)
        elif "headers" in fields:
            changes["headers"] = None
        if changes:
            Tenant.update(changes).where(Tenant.id == tenant.id).execute()
            for name, value in changes.items():
                setattr(tenant, name, value)
    return tenant


def _refuse_unfit_secrets(tenant: Tenant) -> None:
    inheriting = Webhook.select(Webhook.id, Webhook.secret).where(
        (Webhook.tenant == tenant.id) & Webhook.signatures.is_null() & Webhook.deleted_at.is_null())
    for webhook in inheriting:
        if not contracts.is_standard_secret(webhook.secret):
            raise InvalidInput("signatures", f"webhook {webhook.id} would inherit it: {contracts.STANDARD_SECRET_NEEDED}")


def reading_tenant(key: ApiKey, slug: str | None) -> Tenant | None:
    """Whose rows a read is of: the key's own tenant; for an admin key, the tenant it names
    (`default` if none). None: a tenant that does not exist, which has no rows."""
    refuse_other_tenant(key, slug)
    if not key.is_admin:
        return key.tenant
    return find_tenant(slug or Tenant.DEFAULT)
