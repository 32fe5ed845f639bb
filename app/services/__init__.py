"""Use-cases: the only code that opens transactions and writes models. Web handlers, the
CLI and scheduler jobs call these, and none of them touches a model or a transaction.

The transaction rule:

- A service function that writes opens its own transaction with
  `app.storage.db.write_transaction()`; its caller never opens one for it. On SQLite that
  helper takes the process's writer lock before `BEGIN IMMEDIATE`, so writers queue on a
  lock that wakes them at commit rather than in SQLite's busy handler; on PostgreSQL it
  is a plain transaction.
- Inside another transaction the same helper is a savepoint, so a service may call
  others and a failure undoes only its own part: a test send emits an event in the
  transaction that checked the webhook; start-up seeds tenant, catalog and admin key in
  one `exclusive_transaction` (app/services/setup.py).
- A new tenant is created by the write that needs it: services take a `NamedTenant`
  (app/services/tenants.py) and turn it into a row inside their transaction, so a
  refused write leaves no tenant behind.
- Single emits from the API, the hot path, go one step further: each is a job on the
  group-commit writer (app/storage/writer.py), which runs it in a
  savepoint of its one transaction per batch of jobs and answers after that commit. The
  job calls the same `emit_event`, whose `write_transaction` is then that savepoint;
  many small requests share one commit instead of each waiting for the writer lock.
- A batch emit (`emit_events`) is already one transaction for up to 1,000 events, so it
  opens its own with the helper, in the thread pool. Queued on the writer it would hold
  every single emit behind its 1,000 events, and on PostgreSQL batches would wait for
  each other instead of running side by side (`bench --only throughput --quick --pg`:
  the emit rate fell to about half).
- Reads need no transaction. A read-modify-write reads inside its transaction and locks
  the row on PostgreSQL (`webhooks.get_webhook(lock=True)`). Slow work that needs no lock
  (hashing a password, checking a template) runs before the transaction, and long jobs
  commit in short batches (app/services/retention.py).
"""
