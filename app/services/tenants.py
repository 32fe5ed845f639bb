"""Tenants: created on first use, so single-tenant installs never have to think about them."""

from __future__ import annotations

import re
from datetime import datetime

import peewee

from app.errors import InvalidInput
from app.models import Tenant

SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def get_or_create_tenant(slug: str, now: datetime, field: str = "tenant") -> Tenant:
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidInput(field, "must be 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit")
    tenant = Tenant.get_or_none(Tenant.slug == slug)
    if tenant is None:
        try:
            tenant = Tenant.create(slug=slug, created_at=now)
        except peewee.IntegrityError:  # another request created it first
            tenant = Tenant.get(Tenant.slug == slug)
    return tenant
