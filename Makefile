# cgtvigil: two commands for a fresh machine.
#   make demo   set up and run the main job on the embedded default (HTML signal report)
#   make test   set up and run every test (lint, layer contract, types, pytest with PostgreSQL)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/cgtvigil demo

test: $(STAMP)
	scripts/test.sh

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/monitoring.py

clean:
	rm -rf $(VENV) cgtvigil-output .pytest_cache .mypy_cache .ruff_cache
