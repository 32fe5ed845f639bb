"""Dashboard accounts: argon2 password hashes, a one-time setup of the first admin."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.db import write_transaction
from app.errors import Conflict, InvalidInput
from app.models import Tenant, User
from app.services.tenants import get_or_create_tenant

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the response time the same,
# so login timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("not a real password")


def needs_setup() -> bool:
    return not User.select().exists()


def create_first_admin(name: object, password: object, now: datetime) -> User:
    """Only while no account exists: the setup page must not become a back door."""
    with write_transaction():
        if not needs_setup():
            raise Conflict("setup is already done; sign in instead")
        return create_user(name, password, get_or_create_tenant(Tenant.DEFAULT, now), now, is_admin=True)


def create_user(name: object, password: object, tenant: Tenant, now: datetime, is_admin: bool = False) -> User:
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
        raise InvalidInput("name", "required: 1-64 characters")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if User.select().where(User.name == name.strip()).exists():
        raise InvalidInput("name", "is taken")
    return User.create(tenant=tenant, name=name.strip(), password_hash=_hasher.hash(password), is_admin=is_admin, created_at=now)


def authenticate_user(name: str, password: str) -> User | None:
    user = User.get_or_none(User.name == name.strip())
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user
