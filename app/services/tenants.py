"""Tenants: created on first use, so single-tenant installs never have to think about them."""

from __future__ import annotations

import re
from datetime import datetime

import peewee

from app import hotsql
from app.errors import Forbidden, InvalidInput
from app.models import ApiKey, Tenant

SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def get_or_create_tenant(slug: str, now: datetime, field: str = "tenant", found: dict | None = None) -> Tenant:
    """`found`: tenants this transaction already read (see events.Lookups). Only tenants
    that existed before are added, never one created here: the savepoint that created it
    may still roll back."""
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidInput(field, "must be 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
    if found is not None and slug in found:
        return found[slug]
    rows = hotsql.select(_by_slug, slug)
    tenant = rows[0] if rows else None
    if tenant is None:
        try:
            tenant = Tenant.create(slug=slug, created_at=now)
        except peewee.IntegrityError:  # another request created it first
            tenant = Tenant.get(Tenant.slug == slug)
    elif found is not None:
        found[slug] = tenant
    return tenant


def _by_slug(slug: str):
    return Tenant.select().where(Tenant.slug == slug)


def acting_tenant(key: ApiKey, requested: object, now: datetime, found: dict | None = None) -> Tenant:
    """The tenant a write is for: the key's own, or any named one (created on first use)
    for an admin key."""
    if key.is_admin:
        return get_or_create_tenant(requested or Tenant.DEFAULT, now, found=found)
    refuse_other_tenant(key, requested)
    return key.tenant


def refuse_other_tenant(key: ApiKey, requested: object) -> None:
    if not key.is_admin and requested is not None and requested != key.tenant.slug:
        raise Forbidden(f"tenant: this API key belongs to tenant {key.tenant.slug!r}", "tenant")
