# Everything sets itself up: a fresh machine needs only python3 (3.11+).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Azurite, Microsoft's storage emulator, for the shared journal's tests (npm; started by the tests themselves)
AZURITE_VERSION := 3.37.0
AZURITE := .tools/azurite/node_modules/.bin/azurite-blob
RUNBOOK ?= runbooks/woodgrove-subnet-failover.yaml

.PHONY: install bytecode rehearse test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The project's bytecode, compiled ahead as a wheel's is at install: where PYTHONDONTWRITEBYTECODE=1 (many
# container images) nothing caches it, and every command compiled its 94 modules again (docs/performance.md).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q engine adapters

install: $(STAMP) bytecode

$(AZURITE):
	npm install --no-audit --no-fund --loglevel=error --prefix .tools/azurite azurite@$(AZURITE_VERSION)

rehearse: $(STAMP) bytecode  ## the Woodgrove subnet failover against the bundled fake estate, from a clean state
	$(BIN)/failover fake reset
	$(BIN)/failover run $(RUNBOOK)

test: $(STAMP) $(AZURITE)  ## the whole test suite
	$(BIN)/pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check engine adapters tests benchmarks

clean:
	rm -rf $(VENV) .failover .tools
