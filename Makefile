# Targets a newcomer can guess. `make demo` and `make test` set everything up from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup demo test lint format synth deploy destroy deploy-local test-integration bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

synth: setup  ## synthesize with the real CDK CLI (runs cdk-nag; fails on unacknowledged findings)
	$(CDK) synth --quiet

demo: synth  ## the main job: synth, then the game-day library through the synthesized rules, with a report
	$(PY) -m gameday run --report reports/gameday.html

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app.py stacks lambdas gameday deploylocal release bench
	$(PY) app.py >/dev/null
	$(VENV)/bin/cfn-lint --config-file .cfnlintrc.yaml -- cdk.out/AutoRemediation.template.json

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup lint  ## the whole suite: lint, type checks, unit, infra, e2e, and the local deployment
	$(PY) -m pytest -n 2 --dist loadfile

test-integration: setup  ## only the deployment into the local emulator (moto server + real CDK CLI)
	$(PY) -m pytest tests/integration -m integration -q

deploy-local: setup  ## bootstrap, deploy, verify, rehearse, update, diff, destroy against moto on loopback
	$(PY) -m deploylocal run

deploy: synth  ## deploy to the account of your current AWS credentials
	$(CDK) deploy --require-approval broadening

destroy: setup
	$(CDK) destroy

bench: setup  ## import cost, AWS calls before containment, time per event, a 1,000-finding burst (prints a table)
	$(PY) -m bench.run

clean:
	rm -rf cdk.out .gameday-cache .pytest_cache .mypy_cache .ruff_cache reports
