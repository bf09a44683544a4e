# Two entry points for a fresh machine: `make local` (run the service locally) and `make test`.
# `make test-fast`: lint and every test that starts no stack, moto, terraform or browser (well under a minute).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

WSCAT := .tools/node_modules/.bin/wscat
# checkov pins an old boto3: it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: setup local test test-fast lint clean browser

# System packages (apt-get as root or with passwordless sudo, else one line naming the command): scripts/system-packages.
# The Python client library is a package of its own (clients/python, no boto3): installed beside the service.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	PYTHON=$(PYTHON) scripts/system-packages venv
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]' -e clients/python
	touch $(STAMP)

setup: $(STAMP) $(CHECKOV)

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov

# Options for `util local up`: make local ARGS='--port 3002 --detach'
ARGS ?=
local: $(STAMP)
	$(VENV)/bin/util local up $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# wscat: an external WebSocket client (from npm) that the local stack's tests drive unchanged.
$(WSCAT):
	scripts/system-packages node
	npm install --prefix .tools --no-audit --no-fund --silent wscat

# The browser tests drive the system's Chromium (never a downloaded one): installed with apt-get when missing.
browser: $(STAMP)
	scripts/system-packages browser
	@$(VENV)/bin/python -m tests.browser.chromium

test: lint $(WSCAT) $(CHECKOV) browser
	scripts/run-tests

FAST_TIER := not stack and not terraform and not browser

# In one process: the fast tier takes seconds, less than two xdist workers take to start and collect.
test-fast: lint
	TEST_WORKERS=0 scripts/run-tests -q -m "$(FAST_TIER)"

# Everything setup and the tests made here: the venvs, wscat, the built zip, caches.
clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .tools build .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
