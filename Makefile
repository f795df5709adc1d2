# Two commands on a fresh machine: `make serve` starts the service, `make test` runs the tests.
# Both set up what they need first (virtualenv, Python dependencies, the pinned helm binary).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup serve test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(BIN)/helm $(BIN)/kubectl: scripts/install-kube-tools.sh | $(BIN)/python
	scripts/install-kube-tools.sh $(BIN)

setup: $(VENV)/.deps $(BIN)/helm $(BIN)/kubectl

serve: setup
	$(BIN)/appmarket serve

lint: setup
	$(BIN)/ruff check appmarket tests bench

typecheck: setup
	$(BIN)/mypy appmarket

test: setup lint typecheck
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/helm_index.py

clean:
	rm -rf $(VENV) .appmarket .pytest_cache .mypy_cache .ruff_cache
