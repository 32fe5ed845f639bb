"""The schema on PostgreSQL: built from nothing, every start after that finds it current,
it is the schema the models describe, and older databases reach it with their rows."""

from __future__ import annotations

import json

from app.rules import secretbox
from app.storage.db import database, open_database
from app.storage.migrations import STEPS, SchemaVersion, migrate
from app.storage.models import Attempt, Delivery, Webhook
from tests.helpers import created_from_the_models, described

TOKEN = "Bearer s3cr3t-token-1234"


def schema_of(url: str) -> dict[str, tuple]:
    open_database(url)
    try:
        return described()
    finally:
        database.close()


def test_migrations_build_the_schema_from_an_empty_database_and_rerun_as_no_ops(empty_pg_url):
    open_database(empty_pg_url)
    assert database.get_tables() == []
    newest = migrate()
    columns = {c.name: c.data_type for c in database.get_columns("delivery")}
    assert columns["next_attempt_at"] == "timestamp without time zone"
    assert migrate() == newest == len(STEPS)
    assert database.execute_sql("SELECT version FROM schema_version").fetchall() == [(newest,)]
    database.close()


def test_a_database_made_by_main_before_the_frozen_migrations_is_current_keeps_its_rows_and_matches_a_new_one(
        pg_url, empty_pg_url):
    """Main's step 1 created every table from today's models, and its later steps found
    their work done. `pg_url` is a copy of the session's template, which `migrate()` built
    from nothing: the two are the same schema."""
    open_database(empty_pg_url)
    made_by_main = created_from_the_models()
    SchemaVersion.create(version=len(STEPS))
    database.execute_sql("INSERT INTO tenant (slug, created_at) VALUES ('acme', '2026-01-01')")
    assert migrate() == len(STEPS)
    assert described() == made_by_main
    assert database.execute_sql("SELECT slug FROM tenant").fetchall() == [("acme",)]
    database.close()
    assert schema_of(pg_url) == made_by_main


def test_the_upgrade_from_version_2_encrypts_credentials_saved_in_clear_and_masks_old_attempts(
        pg_url, empty_pg_url, settings):
    secretbox.configure(settings.encryption_keys, "")
    open_database(empty_pg_url)
    assert migrate(until=2) == 2
    database.execute_sql("INSERT INTO tenant (id, slug, created_at) VALUES (1, 'acme', '2026-01-01')")
    database.execute_sql(
        "INSERT INTO webhook (id, tenant_id, name, url, description, events, enabled, headers, secret, "
        "consecutive_failures, created_at, updated_at) VALUES ('wh_old', 1, 'old', 'https://example.com', '', "
        "'[\"*\"]', TRUE, %s, 'whsec_plain', 0, '2026-01-01', '2026-01-01')",
        (json.dumps({"Authorization": TOKEN, "X-Team": "billing"}),),
    )
    database.execute_sql("INSERT INTO event (id, tenant_id, type, data, created_at) VALUES "
                         "('evt_old', 1, 'order.created', '{}', '2026-01-01')")
    database.execute_sql("INSERT INTO delivery (id, event_id, webhook_id, status, attempts, created_at, updated_at) "
                         "VALUES ('dlv_old', 'evt_old', 'wh_old', 'succeeded', 2, '2026-01-01', '2026-01-01')")
    for number, headers in enumerate([{"webhook-id": "evt_old", "Authorization": TOKEN}, {"webhook-id": "evt_old"}], 1):
        database.execute_sql(
            "INSERT INTO attempt (delivery_id, number, started_at, duration_ms, request_headers) VALUES "
            "('dlv_old', %s, '2026-01-01', 5, %s)", (number, json.dumps(headers)))
    database.execute_sql("INSERT INTO server_secret (name, value) VALUES ('session', 'old'), ('portal', 'old')")

    assert migrate() == len(STEPS)
    (secret, stored) = database.execute_sql("SELECT secret, headers FROM webhook WHERE id = 'wh_old'").fetchone()
    assert secret.startswith("enc1:") and "s3cr3t" not in stored and json.loads(stored)["X-Team"] == "billing"
    webhook = Webhook.get_by_id("wh_old")
    assert (webhook.secret, dict(webhook.headers)) == ("whsec_plain", {"Authorization": TOKEN, "X-Team": "billing"})
    assert (webhook.ordered, webhook.payload_format) == (False, "standard")
    logged = [row.request_headers for row in Attempt.select().order_by(Attempt.number)]
    assert logged == [{"webhook-id": "evt_old", "Authorization": "••••1234"}, {"webhook-id": "evt_old"}]
    assert Delivery.get_by_id("dlv_old").attempts_before_recovery == 0
    assert "server_secret" not in database.get_tables()
    upgraded = described()
    database.close()
    assert upgraded == schema_of(pg_url)
