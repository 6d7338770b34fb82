# Two commands: `make run` (set up + main job) and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One Dagster instance for the CLI and `dagster dev`, so the UI shows what `make run` produced.
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: setup run test lint dev bench lock install-framework clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME) && touch $@

## The main job: register every part in data/parts, backtest each partition, aggregate.
run: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/trading-runtime materialize

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check trading_runtime tests benchmarks
	$(BIN)/ruff format --check trading_runtime tests benchmarks
	$(BIN)/mypy

## The Dagster UI on http://127.0.0.1:3000 (assets, partitions, results of `make run`).
dev: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev

## The performance benchmark (about 15 min; writes benchmarks/results.md). BENCH_ARGS=--quick for a smoke run.
bench: setup
	$(BIN)/python -m benchmarks $(or $(BENCH_ARGS),--parts 100 --events 100000 --repeats 3)

lock: setup
	scripts/lock.sh

## The pinned framework (.env) for the trading-platform adapter; needs access to GitHub.
install-framework: setup
	set -a && . ./.env && $(BIN)/pip install "trading-platform @ git+$${TRADING_PLATFORM_REPO}@$${TRADING_PLATFORM_COMMIT}"

clean:
	rm -rf results .dagster
