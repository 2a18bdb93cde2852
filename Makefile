# fundingflow — the two commands of the README's quick start are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FF := $(BIN)/fundingflow
PYTEST_ARGS ?=
TEST_OWNER := make-test
PACKAGES := benchmarks fundingflow schemas processors connectors streams executors

.PHONY: run test install system-deps lint format unit stack-up stack-down clean

## make run: install, start the stack, create topics, run the pipeline on the simulated venues.
run: install
	$(FF) stack up
	$(FF) topics create
	$(FF) run --venues sim

## make test: install, start the stack, lint, run the whole suite, stop what this run started.
test: install
	$(FF) stack up --owner $(TEST_OWNER)
	trap '$(FF) stack down --owner $(TEST_OWNER)' EXIT; \
	$(FF) topics create && \
	$(MAKE) --no-print-directory lint && \
	FUNDINGFLOW_TEST_STACK=local $(BIN)/pytest $(PYTEST_ARGS)

install: system-deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Java 17+, Maven, Go (builds the compose-go checker) and the PostgreSQL server come from
# Debian's packages when missing.
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "please install:$$missing (apt-get)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PACKAGES) tests
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

unit: install
	$(BIN)/pytest -m 'not integration and not stack' $(PYTEST_ARGS)

stack-up: install
	$(FF) stack up

stack-down:
	$(FF) stack down

## make clean: stop the stack, delete its data (also PostgreSQL's outside .local/ when root), the venv.
clean:
	$(FF) stack clean
	rm -rf .local $(VENV)
