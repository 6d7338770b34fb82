# Two commands: `make run` (set up + main job) and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One Dagster instance for the CLI and `dagster dev`, so the UI shows what `make run` produced.
export DAGSTER_HOME ?= $(CURDIR)/.dagster

.PHONY: setup run test test-quick lint dev bench lock install-framework image pods clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# The local instance. Run monitoring needs the daemon, which `make dev` (dagster dev) starts.
# With dagster dev's DefaultRunLauncher, Dagster 1.13 cannot check a run worker's health
# (supports_check_run_worker_health and supports_resume_run are False): monitoring fails runs
# stuck in STARTING or CANCELING and runs past a dagster/max_runtime tag, never a STARTED run
# whose worker died, and any max_resume_run_attempts above 0 stops the instance from loading.
# `trading-runtime materialize` marks its own runs whose process died failed at its start.
# Written once: delete the file to get a newer version.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf '%s\n' \
	  '# Written by the Makefile (see its comment on run monitoring).' \
	  'run_monitoring:' \
	  '  enabled: true' \
	  '  start_timeout_seconds: 180' \
	  '  cancel_timeout_seconds: 180' \
	  '  max_resume_run_attempts: 0' \
	  '  poll_interval_seconds: 120' \
	  '# No usage statistics, no telemetry banner on every first start.' \
	  'telemetry:' \
	  '  enabled: false' \
	  '# No "Join the Dagster community" dialog on the first visit to the UI.' \
	  'nux:' \
	  '  enabled: false' \
	  '# One run at a time (automated or launched in the UI; `make run` does not queue):' \
	  '# a backtest run already uses every core through its engine workers.' \
	  'run_queue:' \
	  '  max_concurrent_runs: 1' \
	  > $@

## The main job: register every part in data/parts, backtest each partition, aggregate.
run: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/trading-runtime materialize

test: setup
	$(BIN)/python -m pytest

## The quick loop: every test but the end-to-end ones (marked slow: servers, PostgreSQL, the S3
## server, the browser, the built image, fresh-process CLI runs). `make test` and CI run them all.
test-quick: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check trading_runtime tests benchmarks
	$(BIN)/ruff format --check trading_runtime tests benchmarks
	$(BIN)/mypy

## The Dagster UI on http://127.0.0.1:3000 (assets, partitions, results of `make run`) and the
## daemon: new part files are backtested and aggregated by themselves (TRADING_RUNTIME_AUTOMATION).
## `dg dev` is what Dagster recommends (`dagster dev` works too, and says it is superseded).
dev: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev

## The performance benchmark (about 20 min; writes benchmarks/results.md). BENCH_ARGS=--quick for a smoke run.
bench: setup
	$(BIN)/python -m benchmarks $(or $(BENCH_ARGS),--parts 100 --events 100000 --repeats 3)

lock: setup
	scripts/lock.sh

## The pinned framework (.env) for the trading-platform adapter; needs access to GitHub.
install-framework: setup
	set -a && . ./.env && $(BIN)/pip install "trading-platform @ git+$${TRADING_PLATFORM_REPO}@$${TRADING_PLATFORM_COMMIT}"

## The runtime image with buildah, no Docker daemon or registry (scripts/build-image.sh; root).
## IMAGE_ARGS=--no-framework where GitHub cannot be reached (the image then says so).
image:
	scripts/build-image.sh $(IMAGE_ARGS)

## The cluster's pod commands run in a built image (tests/image): IMAGE=<name printed by
## `make image`>, TRADING_RUNTIME_TEST_POSTGRES_URL as for `make test` (see .ci/run).
pods: setup
	@test -n "$(IMAGE)" || { echo "make pods IMAGE=<image> (the name make image prints)" >&2; exit 2; }
	TRADING_RUNTIME_TEST_IMAGE=$(IMAGE) $(BIN)/python -m pytest tests/image \
	  -o log_cli=true --log-cli-level=INFO --durations=0

clean:
	rm -rf results .dagster
