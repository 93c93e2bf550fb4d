# The two commands of the README: `make demo` and `make test`.
# Needs only python3 (3.11+) and make; everything else goes into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_DEV  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck imports pytest bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Kiln needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[ml,mlflow,training]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(STAMP_DEMO)

## demo: install Kiln into .venv and run the end-to-end demo on the embedded store
demo: $(STAMP_DEMO)
	$(BIN)/kiln demo
	@echo "The kiln command is in $(BIN): run '. $(BIN)/activate' to use it from this shell."

## test: lint, type-check, check the layers, and run the whole test suite
test: lint typecheck imports pytest

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

imports: $(STAMP_DEV)
	$(BIN)/lint-imports

pytest: $(STAMP_DEV)
	$(BIN)/pytest -n 2 --dist loadgroup

## bench: run every benchmark (each prints JSON)
bench: $(STAMP_DEV)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
