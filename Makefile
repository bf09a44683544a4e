# Two entry points for a fresh machine: `make local` (run the service locally) and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup local test lint unit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Until the local stack lands, `make local` runs the Lambda against moto and a real @connections test server.
local: $(STAMP)
	$(VENV)/bin/python -m pytest tests/lambda_src -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: lint
	scripts/run-tests
