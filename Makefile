# The README's two commands: `make run` and `make test`. Both build .venv first, with
# every package pinned by the lock (constraints.txt): a new major version never arrives
# unnoticed. `make lock` refreshes the lock after a change of dependencies in setup.cfg.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The staff screen's port for `make run` (make run PORT=8081; 0: any free port).
PORT ?= 8080
# The lock: exact versions of every package, direct or not, for the base install and
# the extras test, pyzbar and fuzz (pi: only on a Pi, not pinned here), for Python 3.11+.
LOCK := constraints.txt
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c $(LOCK)
# The tool that writes the lock (uv's pip-compile), installed into .venv by `make lock`.
UV_VERSION := 0.13.8
LOCK_EXTRAS := --extra test --extra pyzbar --extra fuzz

.PHONY: run test lint bench setup setup-test system lock lock-upgrade clean

run: $(STAMP) system
	$(BIN)/scangate sim run --port $(PORT)

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
	$(PIP_INSTALL) --upgrade pip

$(STAMP): $(VENV)/bin/python setup.cfg pyproject.toml $(LOCK)
	$(PIP_INSTALL) -e .
	touch $@

$(TEST_STAMP): $(VENV)/bin/python setup.cfg pyproject.toml $(LOCK)
	$(PIP_INSTALL) -e '.[test]'
	touch $(STAMP) $@

# Refresh the lock after adding or changing a dependency in setup.cfg: versions already
# pinned are kept, new packages get the newest that fit (needs PyPI). `make lock-upgrade`
# moves every package to the newest version setup.cfg allows. Then run `make test`.
lock: $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(BIN)/uv pip compile setup.cfg $(LOCK_EXTRAS) --universal --python-version 3.11 \
		--custom-compile-command 'make lock' --quiet $(UV_ARGS) -o $(LOCK)

lock-upgrade:
	$(MAKE) lock UV_ARGS=--upgrade

# System packages (libzbar0 for the pyzbar backend, Debian's chromium for the
# staff-screen browser test). Installed by the project's script, never by hand.
system:
	@bash scripts/setup-system.sh

clean:
	rm -rf $(VENV) build *.egg-info
