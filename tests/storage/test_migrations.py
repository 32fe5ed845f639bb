"""app/storage/migrations.py: a new database, and one made by the code of any earlier
version, reach the schema the models describe, and the steps that rewrite data keep it.

databases_before_frozen_migrations.json holds `sqlite3` dumps (`iterdump()`, one statement
per line) of databases made by main's own `migrate()` at each schema version, before the
steps were frozen: "vNN_<commit>" is version NN as the newest commit of that version built
it (its step 1 created the tables from the models of that day). Each holds the tenant "acme"; v02 also holds a webhook
with its secret and an Authorization header in clear, an attempt that logged that header,
an API key, a user and the two signing keys that step 10 deletes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from app.rules import secretbox
from app.storage.db import database, open_database
from app.storage.migrations import STEPS, api_key_usage, migrate
from app.storage.models import ApiKey, Attempt, Delivery, Tenant, User, Webhook
from tests.helpers import created_from_the_models, described

DUMPS = json.loads((Path(__file__).parent / "databases_before_frozen_migrations.json").read_text())
TOKEN = "Bearer s3cr3t-token-1234"


@pytest.fixture
def models_schema(tmp_path):
    open_database(f"sqlite:///{tmp_path}/models.db")
    yield created_from_the_models()
    database.close()


@pytest.fixture
def open_file(tmp_path, settings, models_schema):
    """Open a SQLite file of this test (after `models_schema` is read), with the keys set."""
    secretbox.configure(settings.encryption_keys, "")
    path = tmp_path / "hookline.db"

    def open_file(dump: list[str] | None = None):
        if dump is not None:
            with sqlite3.connect(path) as connection:
                connection.executescript("\n".join(dump))
            connection.close()
        open_database(f"sqlite:///{path}")

    yield open_file
    database.close()


def test_a_new_database_gets_the_schema_the_models_describe_and_a_rerun_changes_nothing(open_file, models_schema):
    open_file()
    assert migrate() == len(STEPS)
    assert described() == models_schema
    assert migrate() == len(STEPS)
    assert database.execute_sql("SELECT version FROM schema_version").fetchall() == [(len(STEPS),)]


@pytest.mark.parametrize("made_by", sorted(DUMPS))
def test_a_database_made_before_the_frozen_migrations_reaches_the_same_schema(made_by, open_file, models_schema):
    open_file(DUMPS[made_by])
    assert migrate() == len(STEPS)
    assert described() == models_schema
    assert Tenant.get_by_id(1).slug == "acme"


def test_the_upgrade_from_version_2_encrypts_secrets_masks_logged_credentials_and_keeps_every_row(open_file):
    open_file(DUMPS["v02_a1ec582"])
    migrate()

    (secret, headers) = database.execute_sql("SELECT secret, headers FROM webhook").fetchone()
    assert secret.startswith("enc1:") and "whsec_plain" not in secret
    assert "s3cr3t" not in headers and json.loads(headers)["X-Team"] == "billing"
    webhook = Webhook.get_by_id("wh_old")
    assert (webhook.secret, dict(webhook.headers)) == ("whsec_plain", {"Authorization": TOKEN, "X-Team": "billing"})
    assert webhook.headers.secret_names == ["Authorization"]
    # The columns later steps added hold their defaults.
    assert (webhook.ordered, webhook.payload_format, webhook.deleted_at) == (False, "standard", None)

    logged = [row.request_headers for row in Attempt.select().order_by(Attempt.number)]
    assert logged == [{"webhook-id": "evt_old", "Authorization": "••••1234"}, {"webhook-id": "evt_old"}]
    delivery = Delivery.get_by_id("dlv_old")
    assert (delivery.status, delivery.attempts, delivery.attempts_before_recovery) == ("succeeded", 2, 0)
    assert ApiKey.get_by_id("key_old").hint == "hl_AbC1…"
    assert User.get().name == "admin"
    assert "server_secret" not in database.get_tables(), "the signing keys kept in the database are gone"


def test_a_step_runs_on_the_database_the_steps_before_it_made(open_file):
    """Each step alters what exists at its version: stopping at 9 leaves the signing keys'
    table for step 10 to empty, as an upgrade of a version-9 database does."""
    open_file()
    assert migrate(until=9) == 9
    assert "browser_session" not in database.get_tables()
    database.execute_sql("INSERT INTO server_secret (name, value) VALUES ('session', 'old'), ('portal', 'old')")
    assert migrate(until=10) == 10
    assert database.execute_sql("SELECT count(*) FROM server_secret").fetchone() == (0,)
    assert "browser_session" in database.get_tables()
    assert migrate() == len(STEPS) and "server_secret" not in database.get_tables()


def test_api_key_usage_keeps_the_last_used_column_a_first_commit_database_has(open_file, models_schema):
    """A database made by the very first commit (07ad43d) has a never-written
    `api_key.last_used_at`; the step that brings the column adds only `created_by` there."""
    open_file()
    until = STEPS.index(api_key_usage)
    assert migrate(until=until) == until
    database.execute_sql("ALTER TABLE api_key ADD COLUMN last_used_at DATETIME")
    database.execute_sql("INSERT INTO api_key (id, name, prefix, last4, key_hash, created_at)"
                         " VALUES ('key_old', '', 'hl_AbC1', 'x9Qz', 'h', '2026-11-23 12:00:00')")
    assert migrate() == len(STEPS)
    assert described() == models_schema
    key = ApiKey.get_by_id("key_old")
    assert (key.created_by, key.last_used_at) == (None, None)
