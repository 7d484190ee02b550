# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ShieldStorm needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ml,bench,quic,langchain]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/shieldstorm demo

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench examples)

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/storm.py
	$(BIN)/python bench/shield.py
	$(BIN)/python bench/audit.py

clean:
	rm -rf $(VENV) .shieldstorm .mypy_cache .ruff_cache .pytest_cache
