# Two entry points for a fresh machine: `make local` (run the service locally) and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

WSCAT := .tools/node_modules/.bin/wscat
# checkov pins an old boto3: it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: setup local test lint browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) $(CHECKOV)

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov

local: $(STAMP)
	$(VENV)/bin/util local up

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# wscat: an external WebSocket client (from npm) that the local stack's tests drive unchanged.
$(WSCAT):
	npm install --prefix .tools --no-audit --no-fund --silent wscat

# The browser tests drive the system's Chromium (never a downloaded one): one line saying how to get it, if missing.
browser: $(STAMP)
	@$(VENV)/bin/python -m tests.browser.chromium

test: lint $(WSCAT) $(CHECKOV) browser
	scripts/run-tests
