# Two commands do all set-up on a fresh machine: `make train` and `make test` (see README.md).
SHELL := /bin/bash
PY := python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages some features need; installed when missing (needs root), else a warning.
DEBS := npm dataset-fashion-mnist chromium chromium-driver postgresql
CONFIG ?= mnist-8k
LINTED := src tests examples research results benchmarks

.PHONY: venv sysdeps data train test test-fast lint format clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

sysdeps:
	@missing=$$(for p in $(DEBS); do \
	  case $$p in npm) command -v npm >/dev/null && continue;; esac; \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq >/dev/null 2>&1; \
	    for p in $$missing; do echo "Installing Debian package $$p"; \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$p >/dev/null 2>&1 \
	        || echo "warning: could not install $$p; the features that need it are skipped"; done; \
	  else echo "warning: missing Debian packages (install them as root): $$missing"; fi; \
	fi

data: venv sysdeps
	$(BIN)/mnistlab data fetch --dataset mnist
	@$(BIN)/mnistlab data fetch --dataset fashion-mnist \
	  || echo "warning: Fashion-MNIST not fetched; the fashion-20k class and its tests need it"

train: data
	$(BIN)/mnistlab train --config $(CONFIG)

test: data lint
	$(BIN)/python -m pytest

# The unit tier, for the edit-test loop: no real data, browser, database or whole training runs (about a minute).
test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not browser and not database"

lint: venv
	$(BIN)/ruff check $(LINTED) && $(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff format $(LINTED) && $(BIN)/ruff check --fix $(LINTED)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
