# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test bench soak faults lint install install-test browser nginx clean

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
install-test: $(VENV)/.installed-test browser

## browser: Debian's headless Chromium and its driver, for the console's browser tests
## (tests/e2e/test_console.py); installed once, never downloaded by the tests themselves
BROWSER_PACKAGES := chromium chromium-driver
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y $(BROWSER_PACKAGES) \
		|| { $$SUDO apt-get update && $$SUDO apt-get install -y $(BROWSER_PACKAGES); }; \
	fi

## nginx: Debian's nginx, the anchor `make bench` measures the job route against
## (bench/nginx.py starts it with a config of its own); installed once when missing
nginx:
	@if [ -x /usr/sbin/nginx ]; then :; else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y nginx \
		|| { $$SUDO apt-get update && $$SUDO apt-get install -y nginx; }; \
	fi

## run: install, migrate ./var/opsjobs.db, create the demo, serve on http://127.0.0.1:8080
run: install
	$(BIN)/opsjobs demo --host $(HOST):$(PORT)
	$(BIN)/opsjobs serve --host $(HOST) --port $(PORT)

## test: the whole suite (PostgreSQL and MQTT too when OPSJOBS_TEST_PG_URL / _MQTT_URL are set)
test: install-test
	$(BIN)/pytest

## bench: seed 1,000,000 jobs and measure the hot path against a constant endpoint
bench: install-test nginx
	$(BIN)/python -m bench

## soak: the mixed workload at half the measured capacity for SOAK_SECONDS (default 600)
SOAK_SECONDS ?= 600
SOAK_RATE    ?=
soak: install-test
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS) $(if $(SOAK_RATE),--rate $(SOAK_RATE))

## faults: the fault drills, FAULT_JOBS executions each (default 40); needs root for tmpfs
FAULT_JOBS ?= 40
faults: install-test
	$(BIN)/python -m bench.faults --jobs $(FAULT_JOBS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
