"""Shared fixtures: small generated parts, one warm engine pool, isolated Dagster settings.

End-to-end tests are marked ``slow`` (``make test-quick`` runs ``pytest -m "not slow"``; ``make
test`` and CI run everything): tests/test_dagster_e2e.py, tests/test_ui.py and tests/image by
their ``pytestmark``, and every test using a server fixture (``SERVER_FIXTURES``: PostgreSQL, the
S3 server) by the hook below. ``framework`` tests follow tests/support/framework.py.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_runtime.backtest.pool import WorkerPool, shared_pool
from trading_runtime.config import BacktestConfig, example_config_path, load_config
from trading_runtime.config.strategy_modules import STRATEGY_MODULES_ENV
from trading_runtime.data.generate import GeneratorSpec, generate_parts
from trading_runtime.settings import RuntimeSettings

WORKERS = 2
SMALL_EVENTS = 4000

# The tests' own strategies (tests/support/strategies_for_tests.py) besides the project's. Set
# before any worker is spawned: workers and the CLI subprocesses inherit the environment (and
# tests/ on sys.path, from which they import it).
TEST_STRATEGY_MODULES = "trading_runtime.strategies,support.strategies_for_tests"
os.environ[STRATEGY_MODULES_ENV] = TEST_STRATEGY_MODULES

# tests/image runs the cluster's pod commands in a built image: only when one is named
# (`make pods`, .ci/run), never in `make test`.
collect_ignore_glob = [] if os.environ.get("TRADING_RUNTIME_TEST_IMAGE") else ["image/*"]

# tests/support/ (on sys.path through pyproject's `pythonpath`): the framework marker's rules, and
# the fixtures of the servers some tests use.
pytest_plugins = [
    "pytester",
    "support.framework",
    "support.postgres_server",
    "support.postgres_outage",
    "support.s3_server",
]

# Fixtures that need a server: a test using one (directly or through another fixture) is end to
# end, marked slow like the modules that start Dagster's servers, the browser or the image.
SERVER_FIXTURES = frozenset({"outage_server", "s3_endpoint", "server_url"})


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def generated_parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three small contiguous parts, generated once (read-only for tests)."""
    out = tmp_path_factory.mktemp("generated")
    return generate_parts(GeneratorSpec(parts=3, events=SMALL_EVENTS, seed=11), out)


@pytest.fixture
def parts_dir(tmp_path: Path, generated_parts: list[Path]) -> Path:
    """A private, writable copy of the generated parts."""
    target = tmp_path / "parts"
    target.mkdir()
    for part in generated_parts:
        shutil.copy2(part, target / part.name)
    return target


@pytest.fixture(scope="session")
def pool() -> WorkerPool:
    """The process-wide warm pool, the one Dagster resources use too."""
    return shared_pool(WORKERS)


@pytest.fixture(scope="session")
def hft_config() -> BacktestConfig:
    return load_config(example_config_path("hftbacktest"))


def write_config(path: Path, **changes: object) -> Path:
    """The packaged hftbacktest example with top-level or dotted-key changes."""
    raw = json.loads(example_config_path("hftbacktest").read_text())
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture
def settings(tmp_path: Path, parts_dir: Path) -> RuntimeSettings:
    return RuntimeSettings(
        env="local",
        parts_dir=str(parts_dir),
        raw_dir=str(tmp_path / "raw"),
        results=str(tmp_path / "results"),
        config=str(example_config_path("hftbacktest")),
        timeout_s=120,
        workers=WORKERS,
    )


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    yield home
