# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test bench lint install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## run: install, migrate ./var/opsjobs.db, create the demo, serve on http://127.0.0.1:8080
run: install
	$(BIN)/opsjobs demo --host $(HOST):$(PORT)
	$(BIN)/opsjobs serve --host $(HOST) --port $(PORT)

## test: the whole suite (PostgreSQL and MQTT too when OPSJOBS_TEST_PG_URL / _MQTT_URL are set)
test: install-test
	$(BIN)/pytest

## bench: seed 1,000,000 jobs and measure the hot path against a constant endpoint
bench: install-test
	$(BIN)/python -m bench

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
