# ion-violet-bridge. `make run` and `make test` each do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The PostgreSQL the tests use besides SQLite (trust auth on loopback, as on the dev machines).
export BRIDGE_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run test lint typecheck pytest bench faults clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: install            ## the demo: stand-ins + bridge + a scripted day, no settings needed
	$(BIN)/bridge demo

test: lint typecheck pytest   ## lint + mypy + the tests on SQLite and PostgreSQL

lint: install
	$(BIN)/ruff check bridge tests
	$(BIN)/ruff format --check bridge tests

typecheck: install
	$(BIN)/mypy

pytest: install         ## the slowest tests are listed at the end (CI has 15 minutes in all)
	$(BIN)/pytest -q --durations=15

bench: install          ## measured figures, written to var/bench/
	$(BIN)/python -m bridge.bench

faults: install         ## fault drills (kill -9, Violet down, PostgreSQL restart, ION failing)
	$(BIN)/pytest -q -m faults tests/faults

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
