# The README's two commands: `make run` and `make test`. Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench setup setup-test system clean

run: $(STAMP) system
	$(BIN)/scangate sim run

test: $(TEST_STAMP) system
	$(BIN)/ruff check device sim provisioning tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check device sim provisioning tests bench
	$(BIN)/mypy

bench: $(TEST_STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

setup: $(STAMP)
setup-test: $(TEST_STAMP)

# Debian's python3 needs python3-venv for `-m venv`: the setup script installs it.
$(VENV)/bin/python:
	$(PY) -m venv $(VENV) || { rm -rf $(VENV); bash scripts/setup-system.sh --venv && $(PY) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(VENV)/bin/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $@

# System packages (libzbar0 for the pyzbar backend, Debian's chromium for the
# staff-screen browser test). Installed by the project's script, never by hand.
system:
	@bash scripts/setup-system.sh

clean:
	rm -rf $(VENV) build *.egg-info
