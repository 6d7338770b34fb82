"""What the code location loads: never the engine (hftbacktest, numba, polars), whose import
costs every run process and every ``dagster dev`` reload about a second; and the runtime's
copies of what it would otherwise import from there."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import hftbacktest
import pytest
from hftbacktest.binding import event_dtype

from trading_runtime.adapters import ADAPTER_NAMES, engine_identity, get_adapter
from trading_runtime.backtest import pool
from trading_runtime.data.event_format import EVENT_DTYPE

ENGINE_MODULES = ("hftbacktest", "numba", "polars", "matplotlib", "llvmlite")


def _loaded_after(statement: str) -> list[str]:
    probe = (
        f"import sys\n{statement}\n"
        f"print(__import__('json').dumps([m for m in {ENGINE_MODULES!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import trading_runtime.definitions",
        "from trading_runtime.definitions import defs",
        "import trading_runtime.cli",
    ],
)
def test_the_code_location_loads_without_the_engine(statement: str) -> None:
    assert _loaded_after(statement) == []


def test_the_control_loads_the_engine() -> None:
    """The probe sees an engine import when there is one (the worker's module)."""
    assert {"hftbacktest", "numba"} <= set(_loaded_after("import trading_runtime.backtest.worker"))


def test_event_dtype_is_hftbacktests() -> None:
    assert event_dtype == EVENT_DTYPE
    assert EVENT_DTYPE.descr == event_dtype.descr
    assert EVENT_DTYPE.itemsize == event_dtype.itemsize


@pytest.mark.parametrize("name", ADAPTER_NAMES)
def test_engine_identity_is_what_the_adapter_records(name: str) -> None:
    adapter = get_adapter(name)
    assert adapter.name == name
    assert engine_identity(name) == (adapter.version(), adapter.framework_sha())


def test_hftbacktest_version_is_the_installed_packages() -> None:
    assert engine_identity("hftbacktest") == (hftbacktest.__version__, None)


def test_worker_functions_are_named_not_imported() -> None:
    """The pool hands workers a name: pickled, it holds no reference to the worker module."""
    restored = pickle.loads(pickle.dumps(pool.InWorker("validate_in_worker")))
    assert restored == pool.InWorker("validate_in_worker")
    assert b"trading_runtime.backtest.worker" not in pickle.dumps(restored)
