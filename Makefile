# Two entry points for a fresh machine: `make local` (run the service locally) and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

WSCAT := .tools/node_modules/.bin/wscat

.PHONY: setup local test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

local: $(STAMP)
	$(VENV)/bin/util local up

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# wscat: an external WebSocket client (from npm) that the local stack's tests drive unchanged.
$(WSCAT):
	npm install --prefix .tools --no-audit --no-fund --silent wscat

test: lint $(WSCAT)
	scripts/run-tests
