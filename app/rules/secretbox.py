"""Webhook signing secrets are encrypted at rest, so the database file alone (a backup, a
copied volume) does not let anyone sign requests as Hookline.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a key kept outside the
database: `encryption_keys` in the configuration, or else a key file created on first
start next to the data. Several keys may be listed for rotation: the first encrypts, all
decrypt, and `hookline reencrypt` rewrites every secret with the first.

The same keys are the root of the dashboard's signing keys (session cookies, portal
links): `derive` turns each into a key for one purpose, so those too stay out of the
database.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "enc1:"


class SecretBox:
    def __init__(self, keys: list[bytes]):
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._keys = [base64.urlsafe_b64decode(key) for key in keys]

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """Values written before encryption existed are plaintext; the migration encrypts them."""
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "a webhook secret cannot be decrypted with the configured encryption_keys; "
                "was the key file replaced or a key removed before `hookline reencrypt`?"
            ) from None

    def derive(self, purpose: str) -> list[bytes]:
        """A 32-byte key for `purpose` from each encryption key, in the same order (the first
        is the current one). HKDF-SHA256 with the purpose as its info: keys for different
        purposes are unrelated, and none reveals the encryption key."""
        info = b"hookline " + purpose.encode()
        return [HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(key) for key in self._keys]


class _Box:
    """The process's SecretBox, set at start like the database, never at import time."""

    box: SecretBox | None = None

    def __getattr__(self, name):
        if self.box is None:
            raise RuntimeError("encryption keys are not configured (prepare_database() sets them)")
        return getattr(self.box, name)


secret_box = _Box()


def configure(keys: tuple[str, ...], key_file: str) -> None:
    secret_box.box = SecretBox([k.encode() for k in keys] if keys else [read_or_create_key(Path(key_file))])


def read_or_create_key(path: Path) -> bytes:
    """The key file is created once, readable by its owner only."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key + b"\n")
    return key
