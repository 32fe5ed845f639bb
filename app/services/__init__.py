"""Use-cases: the only code that writes models. Web routes and scheduler jobs both call these."""
