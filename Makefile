# llmlake: `make demo` runs the whole pipeline on the embedded sample corpus,
# `make test` runs the test suite. Both set everything up first (idempotent).

# The Python that creates .venv: 3.11 or 3.12 (pyproject's requires-python). The first that
# runs wins: a pyenv shim exists for every installed version, even one it does not serve.
# `make test PYTHON=python3.12` also switches an existing .venv to that Python (see REBUILD).
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(shell for p in python3.11 python3.12; do \
	$$p -c 'import sys' 2>/dev/null && command -v $$p && break; done),python3)
endif
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
PYTEST_ARGS ?=

# yes when PYTHON was given (command line or environment) and is another X.Y than .venv's:
# then the sync names it, and uv rebuilds .venv with it. A default PYTHON never rebuilds.
PY_XY := import sys; print("%d.%d" % sys.version_info[:2])
ifneq ($(origin PYTHON),file)
REBUILD := $(shell [ -x $(BIN)/python ] && \
	[ "$$($(BIN)/python -c '$(PY_XY)')" != "$$($(PYTHON) -c '$(PY_XY)' 2>/dev/null)" ] && echo yes)
endif

# --locked: a pyproject.toml edited without `uv lock` fails here, not later on another
# machine. Exact sync: groups not named (bench) are removed, so `make test` after `make
# bench` runs on the environment CI has. --python only when creating (or switching, see
# REBUILD): naming another path to the same interpreter would make uv rebuild .venv.
# $(call sync,EXTRA-ARGS)
sync = if [ -x $(BIN)/python ] && [ "$(REBUILD)" != yes ]; then $(UV) sync --locked $(1); \
	else $(UV) sync --locked --python $(PYTHON) $(1); fi

.PHONY: setup demo test test-e2e test-cluster lint audit bench clean help

help:
	@echo "make demo   - set up, then run the pipeline (dvc repro) on the sample corpus"
	@echo "make test   - set up, then run the test suite"
	@echo "make test-e2e - the minutes-long tests: drift -> retrain end to end, tuning, fine-tuning"
	@echo "make test-cluster - the ETL on a loopback Spark standalone cluster and an S3-compatible lake"
	@echo "make browser - install Debian's Chromium for the browser tests (root)"
	@echo "make lint   - ruff"
	@echo "make audit  - pip-audit over the locked dependencies"
	@echo "make bench  - install the bench group, run the benchmarks (writes bench/results/)"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

setup: $(UV)
	@$(call sync)

demo: setup
	$(BIN)/dvc repro
	@echo "Open reports/index.html: the whole pipeline at a glance (no server needed)"
	@echo "Model: artifacts/model/ (reports/train.json; loss curves: dvc plots show)"
	@echo "Reports: reports/ (<stage>.json metrics, dedup.html, ablate.html, gx/ data docs);"
	@echo "compare with dvc metrics diff HEAD, look with dvc plots show"
	@echo "Drift of the incoming batch: reports/drift.json, reports/drift/*/index.html;"
	@echo "act on it with llmlake retrain (see README: Monitoring and retraining)"

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

# The tests marked e2e: minutes each on 2 cores (the end-to-end retrain, two pipeline runs
# in a scratch copy of this repo; Ray Tune searches; fine-tuning through Ray Train), so not
# part of `make test`, which skips them; CI runs both.
test-e2e: setup
	LLMLAKE_E2E=1 $(BIN)/pytest -m e2e $(PYTEST_ARGS)

# The tests marked cluster: a Spark standalone master and worker, an S3-compatible server
# (moto), all on loopback and all stopped by the tests; minutes each, so not in `make test`.
test-cluster: setup
	LLMLAKE_CLUSTER=1 $(BIN)/pytest -m cluster $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

audit: setup
	@# Every group, the opt-in bench one too: all of them are locked, all can be installed.
	$(UV) export --locked --all-groups --no-emit-project --no-hashes \
		--format requirements.txt \
		--output-file $(TOOLS)/requirements.txt --quiet
	$(BIN)/pip-audit --strict --disable-pip --no-deps --requirement $(TOOLS)/requirements.txt

# Each writes bench/results/<name>.json; all of them take the better part of an hour.
# Not `setup`: its exact sync would drop the bench group only for this one to add it back.
bench: $(UV)
	@$(call sync,--group bench)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/clean.py
	$(BIN)/python bench/dedup.py --datatrove-docs 50000
	$(BIN)/python bench/tokenization.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/dvc repro train
	$(BIN)/python bench/train_ray.py
	$(BIN)/python bench/generate_throughput.py
	$(BIN)/python bench/scale.py --sizes 10000,100000,1000000
	$(BIN)/python bench/performance.py

# Chromium for the browser tests (tests/browser_helpers.py): the distribution's package, never
# Playwright's browser download. Installs Debian's chromium only when no Chromium is on PATH
# (the names browser_helpers.CHROMIUM_NAMES looks for) and apt-get can run as root; else says
# why not, and the browser tests skip with the same reason.
CHROMIUM_NAMES := chromium chromium-browser google-chrome
.PHONY: browser
browser:
	@for b in $(CHROMIUM_NAMES); do \
		if command -v $$b >/dev/null 2>&1; then echo "browser: $$(command -v $$b)"; exit 0; fi; \
	done; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser: no Chromium on PATH and no apt-get: install Chromium to run the browser tests"; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "browser: no Chromium on PATH: run make browser as root, or apt-get install chromium"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends chromium; \
	fi

clean:
	rm -rf $(VENV) $(TOOLS) lake reports/gx spark-warehouse
