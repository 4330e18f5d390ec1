# Two set-up commands: `make demo` and `make test`. Everything installs into the repo.
# The app is tested on Python 3.11 and 3.13 (Azure's recommended version); each gets its own venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Through pyenv, `python3.13` needs PYENV_VERSION; the real interpreter path is what we keep.
PYTHON_313 ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null)
VENV ?= .venv
VENV_313 ?= .venv-3.13
PY := $(VENV)/bin/python
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's own lines, less the noise (cache hits, download bars, local index warnings); errors stay.
# (`|| true`: grep finds nothing to keep when every package is already there; pip's own status still counts.)
PIP_FILTER := { grep -v -E '^ *(Using cached|Downloading|Obtaining|Requirement already|WARNING: Location|Installing build|Getting requirements|Preparing metadata|Building wheel|Created wheel|Stored in|Building wheels|Processing /)' || true; } | cut -c1-110
PIP_INSTALL = -m pip install --disable-pip-version-check --progress-bar off
# The deployed packages, locked with hashes by pip-tools (`make lock`): one lock per Python, since
# requirements.txt picks azure-functions by version. A venv gets its Python's lock first, hashes
# required, then the test and lint tools of requirements-dev.txt (its runtime pins are then met).
LOCKS := requirements-lock-py311.txt requirements-lock-py313.txt
lock_of = requirements-lock-py$$($(1) -c 'import sys; print(313 if sys.version_info >= (3, 13) else 311)').txt
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	--index-url https://pypi.org/simple $(if $(UPGRADE),--upgrade)

# $(call new_venv,INTERPRETER,VENV): the venv with the locked packages and the dev tools, then its stamp.
define new_venv
	@echo ">> Installing the locked Python packages into $(2) with $(1) (first run only; about a minute)"
	$(1) -m venv $(2)
	$(2)/bin/python $(PIP_INSTALL) --require-hashes -r $(call lock_of,$(1)) 2>&1 | $(PIP_FILTER)
	$(2)/bin/python $(PIP_INSTALL) -r requirements-dev.txt 2>&1 | $(PIP_FILTER)
	touch $@
endef

.PHONY: install install-313 demo test test-311 test-313 format lint unit functional fuzz bench bench-smoke package lock clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt $(LOCKS)
	$(call new_venv,$(PYTHON),$(VENV))

install-313: $(VENV_313)/.installed node_modules/.installed

$(VENV_313)/.installed: requirements.txt requirements-dev.txt $(LOCKS)
	@test -n "$(PYTHON_313)" || { echo "Python 3.13 not found: install it, or set PYTHON_313=/path/to/python3.13 (make test-311 runs 3.11 alone)"; exit 2; }
	$(call new_venv,$(PYTHON_313),$(VENV_313))

# Refresh the locks from requirements.txt (the pins kept where they still fit; UPGRADE=1 takes the
# newest transitive versions). Each lock is compiled by its own Python, hashes from PyPI.
lock: install install-313
	CUSTOM_COMPILE_COMMAND="make lock" $(PY) -m piptools compile $(LOCK_FLAGS) --output-file requirements-lock-py311.txt requirements.txt
	CUSTOM_COMPILE_COMMAND="make lock" $(VENV_313)/bin/python -m piptools compile $(LOCK_FLAGS) --output-file requirements-lock-py313.txt requirements.txt

node_modules/.installed: package.json package-lock.json
	@echo ">> Installing Azurite (the local storage emulator) into node_modules"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install
	$(PY) -m devstack.demo

# Lint once, then the whole suite on each supported Python (both run, even after a failure), then one
# summary of both: pytest's closing line of each Python, and the status of the two together.
test: lint
	@rc=0; logs=$$(mktemp -d); \
	$(MAKE) --no-print-directory test-311 2>&1 | tee $$logs/3.11.log || rc=1; \
	$(MAKE) --no-print-directory test-313 2>&1 | tee $$logs/3.13.log || rc=1; \
	for python in 3.11 3.13; do \
	  echo ">> Python $$python: $$(grep -E '[0-9]+ (passed|failed|errors?)( |,|$$)' $$logs/$$python.log | tail -n 1 || true)"; done; \
	rm -rf $$logs; \
	if [ $$rc -eq 0 ]; then echo ">> make test: both Pythons passed"; else echo ">> make test: FAILED (see above)"; fi; \
	exit $$rc

test-311: install
	$(PY) -m pytest

test-313: install-313
	$(VENV_313)/bin/python -m pytest

unit: install
	$(PY) -m pytest tests/unit

functional: install
	$(PY) -m pytest tests/functional

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Generated worlds, longer than CI's budget: FUZZ_EXAMPLES random examples of the unit state machine, then
# FUZZ_SEEDS seeded worlds of FUZZ_STEPS steps through the real functions (seeds from FUZZ_FIRST_SEED on).
# Bounded: it stops by itself (defaults: about 21 minutes on two cores; its longest clean run is in the README).
FUZZ_EXAMPLES ?= 2000
FUZZ_SEEDS ?= 300
FUZZ_FIRST_SEED ?= 1000
FUZZ_STEPS ?= 40
fuzz: install
	GENERATED_WORLDS_EXAMPLES=$(FUZZ_EXAMPLES) GENERATED_WORLDS_RANDOM=1 $(PY) -m pytest -q tests/unit/test_generated_worlds.py
	GENERATED_WORLDS_SEEDS=$$(seq -s, $(FUZZ_FIRST_SEED) $$(( $(FUZZ_FIRST_SEED) + $(FUZZ_SEEDS) - 1 ))) \
	GENERATED_WORLDS_STEPS=$(FUZZ_STEPS) $(PY) -m pytest -q tests/functional/test_generated_worlds.py

bench: install
	$(PY) -m bench.run

bench-smoke: install
	$(PY) -m bench.run --smoke

# The deployment zip, dist/function-app.zip (docs/deploy.md): only what the app needs, its modules precompiled
# (unchecked-hash) for 3.11 and 3.13 so a read-only app folder never compiles them. Needs no venv.
package:
	@test -n "$(PYTHON_313)" || echo "make package: Python 3.13 not found (set PYTHON_313): the zip carries 3.11 bytecode only"
	$(PYTHON) -m tools.package --out dist --python $(PYTHON) $(if $(PYTHON_313),--python $(PYTHON_313))

clean:
	rm -rf $(VENV) $(VENV_313) node_modules .devstack .pytest_cache .mypy_cache .ruff_cache dist
