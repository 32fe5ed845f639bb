"""Dashboard accounts: argon2 password hashes, a one-time setup of the first admin, and
password changes and removals that end the account's sessions in every browser."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.rules.errors import Conflict, InvalidInput, NotFound
from app.services.sessions import end_user_sessions
from app.services.tenants import NamedTenant, for_write
from app.storage.db import write_transaction
from app.storage.models import Tenant, User

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
        return create_user(name, password, NamedTenant(Tenant.DEFAULT), now, is_admin=True)


def create_user(
    name: object, password: object, tenant: Tenant | NamedTenant, now: datetime, is_admin: bool = False
) -> User:
    """A new tenant is created with its first user, and not at all when the user is refused."""
    if problems := account_problems(name, password):
        raise InvalidInput(*next(iter(problems.items())))
    password_hash = _hasher.hash(password)
    name = _stored_name(name)
    with write_transaction():
        if User.select().where(User.name == name).exists():
            raise InvalidInput("name", "is taken")
        return User.create(tenant=for_write(tenant, now), name=name, password_hash=password_hash, is_admin=is_admin,
                           created_at=now)


def account_problems(name: object, password: object) -> dict[str, str]:
    """Every rule a new account's name and password break, by field, so that a form can
    show them all at once (a taken name is found only when the account is written)."""
    problems = {}
    if not isinstance(name, str) or not 1 <= len(_stored_name(name)) <= 64:
        problems["name"] = "required: 1-64 characters"
    if (problem := _password_problem(password)) is not None:
        problems["password"] = problem
    return problems


def _stored_name(name: str) -> str:
    """The name as accounts are stored and looked up: typed spaces around it do not count."""
    return name.strip()


def login_limit_key(name: str) -> str:
    """The failed sign-in budget a typed name draws on. Every spelling that reaches one
    account (`_stored_name`) has the same key, and so do spellings that differ only in case
    or Unicode compatibility forms, so that padding or retyping a name buys no guesses."""
    return unicodedata.normalize("NFKC", _stored_name(name)).strip().casefold()


def authenticate_user(name: str, password: str) -> User | None:
    user = User.get_or_none(User.name == _stored_name(name))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def change_password(name: str, password: object) -> User:
    """Every session of the account ends: a browser that signed in with the old password,
    or a copy of its cookie, has to sign in again."""
    password_hash = _hash(password)
    with write_transaction():
        user = _named(name)
        user.password_hash = password_hash
        user.save()
        end_user_sessions(user)
    return user


def remove_user(name: str) -> None:
    """Never the last admin, nor the last account: with no account, the first-run setup
    page would let anyone who reaches the dashboard create an admin."""
    with write_transaction():
        user = _named(name)
        others = User.select().where(User.id != user.id)
        if not others.exists():
            raise Conflict(f"{user.name!r} is the only account; removing it would reopen first-run setup")
        if user.is_admin and not others.where(User.is_admin).exists():
            raise Conflict(f"{user.name!r} is the last admin; make another admin first")
        end_user_sessions(user)
        user.delete_instance()


def _named(name: str) -> User:
    user = User.get_or_none(User.name == _stored_name(name))
    if user is None:
        raise NotFound(f"no user named {_stored_name(name)!r}")
    return user


def _password_problem(password: object) -> str | None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    return None


def _hash(password: object) -> str:
    if (problem := _password_problem(password)) is not None:
        raise InvalidInput("password", problem)
    return _hasher.hash(password)
