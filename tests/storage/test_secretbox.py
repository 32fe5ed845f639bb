"""Webhook secrets at rest: encrypted in the database, readable only with the key."""

from __future__ import annotations

import os
import stat
import multiprocessing
import subprocess
from pathlib import Path

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


def _create_key_together(start: multiprocessing.Barrier, key_file: str, answers: multiprocessing.Queue) -> None:
    start.wait()  # every process is running before any looks for the file
    try:
        answers.put(("key", secretbox.read_or_create_key(Path(key_file))))
    except Exception as exc:  # what a start would die of, told to the test
        answers.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.parametrize("round_", range(5))
def test_processes_started_together_all_end_with_the_one_key_file(tmp_path, round_):
    """30 processes create the key file at once: each gets the same key, none fails, and no
    temporary file is left. The O_EXCL create and write it replaces failed in about one
    round of 30 in three (FileExistsError, or a reader that saw the file still empty); five
    rounds make it likely that a regression shows."""
    key_file = tmp_path / "data" / "hookline.key"
    context = multiprocessing.get_context("fork")  # the function alone, without importing anything again
    start, answers = context.Barrier(30), context.Queue()
    processes = [context.Process(target=_create_key_together, args=(start, str(key_file), answers)) for _ in range(30)]
    for process in processes:
        process.start()
    outcomes = [answers.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    answers.close()
    answers.join_thread()
    assert [kind for kind, _ in outcomes] == ["key"] * 30, [text for kind, text in outcomes if kind == "error"]
    assert {key for _, key in outcomes} == {key_file.read_bytes().strip()}
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert os.listdir(key_file.parent) == ["hookline.key"]


@pytest.mark.parametrize("content", [b"", b"not a key\n"])
def test_a_key_file_without_a_key_stops_the_start_with_its_name(tmp_path, content):
    key_file = tmp_path / "hookline.key"
    key_file.write_bytes(content)
    with pytest.raises(RuntimeError, match=f"the key file {key_file} does not hold a Fernet key"):
        secretbox.read_or_create_key(key_file)


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
