# credfix: `make test` and `make demo` set up everything they need on a fresh machine
# (Python 3.11+, Node.js and make present); nothing else is needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup lint test test-fast demo synth bench reliability redrive clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "credfix needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NODE_STAMP)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# ruff, mypy, then every test: unit, integration on the local AWS (moto server), infrastructure.
test: lint
	$(VENV)/bin/pytest -n 2 -q

test-fast: setup
	$(VENV)/bin/pytest -q -m "not infra"

demo: $(STAMP)
	$(PY) -m harness.demo $(DEMO_ARGS)

# Every stack for cdk.json, then for an example multi-region organisation (cdk.out.example/).
EXAMPLE_CONTEXT := -c home_region=eu-west-1 -c account=111122223333 -c regions=eu-central-1,us-west-2 \
	-c 'org={"enabled":true,"organization_id":"o-abcd123456"}' -c 'alerts={"emails":["oncall@example.com"]}'
synth: setup
	npx cdk synth --no-notices --quiet > /dev/null && ls cdk.out/*.template.json
	npx cdk synth --no-notices --quiet $(EXAMPLE_CONTEXT) -o cdk.out.example > /dev/null && ls cdk.out.example/*.template.json

BENCH_VENV := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $@

TRACER_VENV := bench/.venv-tracer
TRACER_STAMP := $(TRACER_VENV)/.installed

$(TRACER_STAMP): bench/tracer-requirements.txt
	$(PYTHON) -m venv $(TRACER_VENV)
	$(TRACER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/tracer-requirements.txt
	@touch $@

# Benchmarks (ratios against floors and the Cloud Custodian peer, measured in one run):
# writes bench/results.json and the table in docs/performance.md. Its own venv holds the peer.
bench: $(STAMP) $(BENCH_STAMP) $(TRACER_STAMP)
	$(PY) -m bench.run --update-docs

# Reliability tests (storm, faults, hostile input, timeouts, template security), and the
# table in docs/reliability.md regenerated from their own measurements.
reliability: setup
	$(PY) tests/reliability_report.py

# Move every credfix dead-letter queue's messages back to the queue they came from, with counts
# (standard AWS environment; REDRIVE_ARGS=--dry-run to count only, --json for machines).
redrive: $(STAMP)
	$(VENV)/bin/credfix redrive $(REDRIVE_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(TRACER_VENV) node_modules cdk.out cdk.out.example .pytest_cache .mypy_cache .ruff_cache
