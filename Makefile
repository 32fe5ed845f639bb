# Two commands: `make run` and `make test`. Both create or update .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e clients/python
	touch $@ $(VENV)/.installed

## Start the API + scheduler on ./data/hookline.db, in development mode (http and loopback allowed).
run: $(VENV)/.installed
	$(BIN)/hookline serve --dev $(ARGS)

## Install the dev dependencies (and Debian's chromium, php-cli, golang-go, postgresql and
## pgbouncer for the browser, verifier, PostgreSQL and pooler tests) and run the whole suite,
## then the tests marked `postgres` again on PostgreSQL (tests/conftest.py starts a server;
## exit status 5: ARGS selected none of them). Both runs spread the tests over WORKERS
## pytest-xdist processes, one per core by default (tests/conftest.py keeps those sharing a
## module's fixture together); WORKERS=0 runs them in pytest's own process (for --pdb).
WORKERS ?= auto
test: $(VENV)/.installed-dev
	scripts/install-browser.sh
	scripts/install-verifiers.sh
	scripts/postgres-server.sh install || [ $$? -eq 3 ]
	scripts/pgbouncer.sh install || [ $$? -eq 3 ]
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup $(ARGS)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup --db=postgres $(ARGS) || [ $$? -eq 5 ]

## Benchmark suite (loopback only, bounded, docs/benchmarks.md); prints one table. Not part of `make test`.
## One part: make bench ARGS="--only emit"; a smoke run: make bench ARGS="--quick"; --help lists the rest.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
