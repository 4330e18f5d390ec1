# Two set-up commands: `make demo` and `make test`. Everything installs into the repo.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install demo test lint unit functional bench bench-smoke clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install
	$(PY) -m devstack.demo

test: install lint
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

functional: install
	$(PY) -m pytest tests/functional

lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: install
	$(PY) -m bench.run

bench-smoke: install
	$(PY) -m bench.run --smoke

clean:
	rm -rf $(VENV) node_modules .devstack .pytest_cache .mypy_cache .ruff_cache
