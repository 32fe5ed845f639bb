"""The delivery, end-to-end, concurrent-edit, savepoint and log-paging suites, and the API tests that depend on
the database, run again on PostgreSQL: the same behaviour from the same tests, with the
`settings` fixture of tests/pg/conftest.py pointing them at a fresh PostgreSQL database."""

from tests.api.test_api_batch import test_batched_events_keep_their_digits  # noqa: F401
from tests.api.test_api_events import (  # noqa: F401
    test_a_form_posted_event_keeps_its_digits_too,
    test_emit_stores_the_event_and_one_delivery_per_subscriber,
    test_events_only_reach_their_own_tenants_webhooks,
    test_idempotency_key_expires_after_its_window,
    test_idempotency_key_returns_the_first_event_and_creates_nothing,
    test_idempotency_keys_are_per_tenant,
    test_the_receiver_gets_every_number_with_the_digits_sent,
)
from tests.api.test_faults_input import test_idempotency_tells_amounts_apart_that_one_double_would_not  # noqa: F401
from tests.engine.test_dispatch import *  # noqa: F401,F403
from tests.api.test_end_to_end import *  # noqa: F401,F403
from tests.engine.test_hostile_receiver import *  # noqa: F401,F403
from tests.services.test_concurrent_edits import *  # noqa: F401,F403
from tests.storage.test_db import *  # noqa: F401,F403
from tests.dashboard.test_delivery_paging import *  # noqa: F401,F403
from tests.engine.test_lease_renewal import *  # noqa: F401,F403
