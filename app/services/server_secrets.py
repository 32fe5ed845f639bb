"""Secrets generated on first start and kept in the database, so every process shares them."""

from __future__ import annotations

import secrets

import peewee

from app.models import ServerSecret


def server_secret(name: str) -> str:
    row = ServerSecret.get_or_none(ServerSecret.name == name)
    if row is None:
        try:
            row = ServerSecret.create(name=name, value=secrets.token_urlsafe(48))
        except peewee.IntegrityError:  # another process created it first
            row = ServerSecret.get(ServerSecret.name == name)
    return row.value
