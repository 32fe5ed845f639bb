"""API keys: shown once, stored only as a SHA-256 hash, found by that hash.

Keys carry 256 random bits, so an unsalted fast hash is safe here (unlike passwords), and a
lookup by hash never compares secret material byte by byte.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.rules.errors import NotFound
from app.services.tenants import NamedTenant, for_write
from app.storage.db import write_transaction
from app.storage.models import ApiKey, Tenant

KEY_PREFIX = "hl_"
DISPLAY_PREFIX_LENGTH = 11  # "hl_" plus 8 characters: enough to tell keys apart in a list


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    plaintext: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_key(
    tenant: Tenant | NamedTenant | None, now: datetime, name: str = "", plaintext: str | None = None,
    created_by: str | None = None,
) -> NewKey:
    """`tenant=None` makes an admin key that can act for every tenant; a new tenant is
    created with its first key. `created_by` is who the keys page says made it."""
    plaintext = plaintext or KEY_PREFIX + secrets.token_urlsafe(32)
    with write_transaction():
        key = ApiKey.create(
            tenant=None if tenant is None else for_write(tenant, now),
            name=name,
            prefix=plaintext[:DISPLAY_PREFIX_LENGTH],
            last4=plaintext[-4:],
            key_hash=hash_key(plaintext),
            created_at=now,
            created_by=created_by,
        )
    return NewKey(key, plaintext)


def authenticate(plaintext: str) -> ApiKey | None:
    key = ApiKey.get_or_none(ApiKey.key_hash == hash_key(plaintext))
    if key is None or key.revoked_at is not None:
        return None
    if not key.is_admin:
        key.tenant  # loaded here, so whoever holds the key later never queries for it
    return key


# Bumped by every revocation in this process; a KeyCache that sees it change forgets everything.
_revocations = 0
_revocations_lock = threading.Lock()


def _revoked_here() -> None:
    global _revocations
    with _revocations_lock:
        _revocations += 1


# How stale the keys page's "last used" may be: a key in steady use costs one write a minute.
LAST_USED_PRECISION = timedelta(minutes=1)


def record_use(key: ApiKey, now: datetime) -> None:
    """Note that `key` was used at `now`, unless that is already known to the minute. The
    condition is in the UPDATE, so processes that see the same key at once write it once."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_PRECISION:
        return
    with write_transaction():
        ApiKey.update(last_used_at=now).where(
            (ApiKey.id == key.id)
            & (ApiKey.last_used_at.is_null() | (ApiKey.last_used_at <= now - LAST_USED_PRECISION))
        ).execute()
    key.last_used_at = now


class KeyCache:
    """Keys that authenticated recently, by hash, so an API request usually needs no
    database query and no thread-pool hop (together most of the CPU of accepting an event).

    Every lookup in the database also records the key's use (record_use), so "last used"
    is at most LAST_USED_PRECISION plus `recheck` old.

    Revocation: one in this process (revoke_key, ensure_admin_key) empties every cache at
    once; one made by another process (another `hookline serve`, the CLI) is seen once the
    entry is `recheck` old (RECHECK_SECONDS by default), when the key is looked up again.
    Unknown and revoked keys are never cached: a key created elsewhere works at once, and
    guessing keys stays a database query each. One cache per app, so tests that run apps
    on different databases in one process never share keys.
    """

    RECHECK_SECONDS = 5.0

    def __init__(self, recheck: float = RECHECK_SECONDS, max_keys: int = 1000):
        self.recheck = timedelta(seconds=recheck)
        self.max_keys = max_keys
        self._keys: dict[str, tuple[ApiKey, datetime]] = {}
        self._seen = _revocations

    def cached(self, plaintext: str, now: datetime) -> ApiKey | None:
        """The key if it authenticated within `recheck`; no I/O, for the event loop."""
        if self._seen != _revocations:
            self._keys.clear()
            self._seen = _revocations
        entry = self._keys.get(hash_key(plaintext))
        if entry is None or now - entry[1] >= self.recheck or now < entry[1]:
            return None
        return entry[0]

    def authenticate(self, plaintext: str, now: datetime) -> ApiKey | None:
        """The database's answer, remembered if the key is valid and no revocation in this
        process happened while it was read (it might have read the row just before)."""
        seen = _revocations
        key = authenticate(plaintext)
        if key is not None:
            record_use(key, now)
        if key is not None and seen == _revocations:
            if len(self._keys) >= self.max_keys:
                self._keys.clear()
            self._keys[hash_key(plaintext)] = (key, now)
        return key


CONFIGURED_ADMIN_KEY_NAME = "admin key from configuration"


def ensure_admin_key(plaintext: str, now: datetime) -> None:
    """Make the configured HOOKLINE_ADMIN_KEY usable, so scripts need no manual step.

    Changing the configured key revokes the one it replaces: rotating it in the
    environment must not leave the old key working.
    """
    key_hash = hash_key(plaintext)
    with write_transaction():
        ApiKey.update(revoked_at=now).where(
            (ApiKey.name == CONFIGURED_ADMIN_KEY_NAME) & (ApiKey.key_hash != key_hash) & ApiKey.revoked_at.is_null()
        ).execute()
        if ApiKey.get_or_none(ApiKey.key_hash == key_hash) is None:
            create_api_key(None, now, name=CONFIGURED_ADMIN_KEY_NAME, plaintext=plaintext, created_by="configuration")
    _revoked_here()


def _visible(tenant_id: int, include_admin_keys: bool):
    """The keys a dashboard user may see and revoke: their tenant's, plus admin keys for admins."""
    visible = ApiKey.tenant == tenant_id
    if include_admin_keys:
        visible |= ApiKey.tenant.is_null()
    return visible


def list_keys(tenant_id: int, include_admin_keys: bool) -> list[ApiKey]:
    """A tenant's keys, newest first; admins also see the admin keys."""
    return list(ApiKey.select().where(_visible(tenant_id, include_admin_keys)).order_by(ApiKey.created_at.desc()))


def revoke_key(key_id: str, tenant_id: int, include_admin_keys: bool, now: datetime) -> ApiKey:
    """Revoked keys stay listed (with the date) but never authenticate again.

    A key the caller may not see is "not found", so ids of other tenants' keys leak nothing.
    Revoking twice keeps the first date.
    """
    with write_transaction():
        key = ApiKey.get_or_none((ApiKey.id == key_id) & _visible(tenant_id, include_admin_keys))
        if key is None:
            raise NotFound(f"no API key {key_id!r}")
        if key.revoked_at is None:
            ApiKey.update(revoked_at=now).where((ApiKey.id == key.id) & ApiKey.revoked_at.is_null()).execute()
            key.revoked_at = now
    _revoked_here()  # after the commit: a lookup that starts now reads the revocation
    return key
