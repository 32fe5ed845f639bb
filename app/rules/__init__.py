"""Pure rules: subscriptions, filters, webhook URL rules, header rules, ids, the clock, errors,
JSON text, token buckets and the secret box. No I/O and no import of any other layer, so each
is tested directly with tables (tests/unit/)."""
