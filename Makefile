# llmlake: `make demo` runs the whole pipeline on the embedded sample corpus,
# `make test` runs the test suite. Both set everything up first (idempotent).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
PYTEST_ARGS ?=

.PHONY: setup demo test lint audit bench clean help

help:
	@echo "make demo   - set up, then run the pipeline (dvc repro) on the sample corpus"
	@echo "make test   - set up, then run the test suite"
	@echo "make lint   - ruff"
	@echo "make audit  - pip-audit over the locked dependencies"
	@echo "make bench  - benchmarks under bench/ (writes bench/results/)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

setup: $(UV)
	@# --python only when creating: naming another path to the same interpreter would
	@# make uv rebuild an existing environment.
	@if [ -x $(BIN)/python ]; then $(UV) sync --frozen; \
	else $(UV) sync --frozen --python $(PYTHON); fi

demo: setup
	$(BIN)/dvc repro
	@echo "Reports: reports/ (ingest.json, validate_bronze.json, gx/ data docs)"

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

audit: setup
	$(UV) export --frozen --no-emit-project --no-hashes --format requirements.txt \
		--output-file $(TOOLS)/requirements.txt --quiet
	$(BIN)/pip-audit --strict --disable-pip --no-deps --requirement $(TOOLS)/requirements.txt

# Each writes bench/results/<name>.json; all of them take the better part of an hour.
bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/clean.py
	$(BIN)/python bench/dedup.py --datatrove-docs 50000
	$(BIN)/python bench/tokenization.py

clean:
	rm -rf $(VENV) $(TOOLS) lake reports/gx spark-warehouse
