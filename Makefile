# Every target creates .venv and installs the project first; nothing else is needed.
# Installs come from the committed, hashed locks; `make upgrade` is the one way to refresh them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements-test.lock
# The locks also pin the build backend, so an editable install needs nothing unpinned.
BUILD_REQUIRES := 'setuptools>=77' wheel
COMPILE = $(VENV)-upgrade/bin/uv pip compile pyproject.toml - --universal --python-version 3.11 --generate-hashes \
          --upgrade --quiet --custom-compile-command "make upgrade"

.PHONY: demo test lint faults bench install upgrade clean

$(STAMP): pyproject.toml requirements.lock $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/narrate dev

test: $(STAMP)
	$(BIN)/python -m pytest

# The linter and the formatter, as configured in pyproject.toml; `ruff format .` applies the format.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

faults: $(STAMP)
	$(BIN)/python -m pytest -m fault tests/faults
	$(BIN)/python -m tests.faults.report

bench: $(STAMP)
	$(BIN)/python -m tests.bench

# Newest releases within pyproject.toml's ranges into both locks, then the whole suite on them.
upgrade:
	$(PYTHON) -m venv $(VENV)-upgrade
	$(VENV)-upgrade/bin/python -m pip install --quiet --disable-pip-version-check uv
	printf '%s\n' $(BUILD_REQUIRES) | $(COMPILE) -o requirements.lock
	printf '%s\n' $(BUILD_REQUIRES) | $(COMPILE) --extra test --constraint requirements.lock -o $(LOCK)
	rm -f $(STAMP)
	$(MAKE) test

clean:
	rm -rf $(VENV) $(VENV)-upgrade out .pytest_cache
