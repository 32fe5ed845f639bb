"""Webhook secrets at rest: encrypted in the database, readable only with the key."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from cryptography.fernet import Fernet

from app.rules import secretbox
from app.rules.secretbox import SecretBox
from app.storage.db import database
from app.storage.models import Webhook
from tests.helpers import ENCRYPTION_KEY, HOOKLINE, create_webhook


def test_round_trip_and_no_plaintext_in_the_ciphertext():
    box = SecretBox([Fernet.generate_key()])
    stored = box.encrypt("whsec_abc")
    assert stored.startswith("enc1:") and "abc" not in stored
    assert box.decrypt(stored) == "whsec_abc"
    assert box.encrypt("whsec_abc") != stored, "a fresh IV each time"


def test_rotation_keeps_old_secrets_readable_until_reencrypted():
    old, new = Fernet.generate_key(), Fernet.generate_key()
    stored = SecretBox([old]).encrypt("whsec_abc")
    both = SecretBox([new, old])
    assert both.decrypt(stored) == "whsec_abc"
    assert SecretBox([new]).decrypt(both.encrypt(both.decrypt(stored))) == "whsec_abc", "as reencrypt rewrites it"
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        SecretBox([new]).decrypt(stored)


def test_the_database_file_does_not_contain_secrets(api, settings):
    secret = create_webhook(api)["secret"]
    (stored,) = database.execute_sql("SELECT secret FROM webhook").fetchone()
    assert stored.startswith("enc1:") and secret not in stored
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = settings.database_url.removeprefix("sqlite:///")
    with open(path, "rb") as file:
        assert secret.encode() not in file.read()
    assert Webhook.get().secret == secret


def test_key_file_is_created_once_and_private(env, tmp_path):
    env = {k: v for k, v in env.items() if k != "HOOKLINE_ENCRYPTION_KEYS"}
    for _ in range(2):
        result = subprocess.run([HOOKLINE, "create-key", "--admin"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    key_file = tmp_path / "data" / "hookline.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(key_file.read_text().split()) == 1, "created once, then reused"


def test_reencrypt_moves_every_secret_to_the_new_key(api, settings):
    from app.services.setup import reencrypt_secrets

    secret = create_webhook(api)["secret"]
    new_key = Fernet.generate_key().decode()
    try:
        secretbox.configure((new_key, ENCRYPTION_KEY), "")
        assert reencrypt_secrets() == 1
        secretbox.configure((new_key,), "")  # the old key is gone
        assert Webhook.get().secret == secret
    finally:
        secretbox.configure(settings.encryption_keys, "")
