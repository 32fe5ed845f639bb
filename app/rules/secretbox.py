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
import secrets
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
    """The key file, created once and readable by its owner only.

    Processes started together in a folder without one all try to create it, so it is
    never written under its own name: each writes and syncs a key under a temporary name,
    then hard-links it to the final name, which fails if the name exists. The first link
    wins; everyone else reads the winner's file, which is complete the moment it has a
    name (an `O_EXCL` create and then a write let 12 of 30 simultaneous starts fail with
    FileExistsError, and a reader see an empty file)."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(key + b"\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _read_key(path)  # another process linked its key first
        _sync_folder(path.parent)
        return key
    finally:
        os.unlink(temporary)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise RuntimeError(f"the key file {path} does not hold a Fernet key (empty or damaged); restore it from a "
                           "backup, or set encryption_keys") from None
    return key


def _sync_folder(folder: Path) -> None:
    """The new name survives a power cut too, not only the file's bytes."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
