"""Signing keys for what the dashboard hands to browsers (session cookies, portal links).

They are derived from the encryption keys (app/rules/secretbox.py), which live outside the
database, so a copy of the database (a backup, a copied volume) cannot sign a session
cookie or a portal link. Every process with the same encryption keys derives the same
signing keys; nothing is stored.

Rotation: with several encryption keys listed, the first signs and every one verifies,
so cookies and links signed before a new key was put first keep working until the old
key is removed; after that they are refused like forged ones (the browser signs in again).
"""

from __future__ import annotations

from app.rules.secretbox import secret_box


def signing_keys(purpose: str) -> list[bytes]:
    """Keys for itsdangerous, which signs with the last and verifies with all."""
    return list(reversed(secret_box.derive(purpose)))
