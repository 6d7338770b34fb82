"""Strategy code is imported only where it runs (engine workers), and only from allowed modules."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_STRATEGY_MODULES

from trading_runtime.adapters import EngineError, StrategyLoadError
from trading_runtime.adapters.base import import_class_path
from trading_runtime.adapters.trading_platform import TradingPlatformAdapter
from trading_runtime.backtest.fan_out import backtest_part
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.config import BacktestConfig, ConfigError, example_config_path, parse_config
from trading_runtime.config.strategy_modules import (
    DEFAULT_STRATEGY_MODULES,
    STRATEGY_MODULES_ENV,
    allowed_strategy_modules,
    find_module_source,
    is_allowed_module,
)
from trading_runtime.data.validate import validate_part
from trading_runtime.freshness.code_version import result_code_version
from trading_runtime.results import strategy_source_hash
from trading_runtime.settings import load_settings


def _raw_config(class_path: str) -> dict[str, object]:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["strategy"] = {"class_path": class_path}
    return raw


def _unchecked(config: BacktestConfig, class_path: str) -> BacktestConfig:
    """A config whose class_path skipped validation (model_copy does not validate)."""
    strategy = config.strategy.model_copy(update={"class_path": class_path, "params": {}})
    return config.model_copy(update={"strategy": strategy})


def _write_module(path: Path, marker: Path, body: str = "") -> Path:
    """A module (or package ``__init__``) that leaves ``marker`` behind when imported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n{body}")
    return path


def test_the_setting_defaults_to_the_project_strategies_and_rejects_non_names() -> None:
    assert allowed_strategy_modules({}) == DEFAULT_STRATEGY_MODULES
    assert DEFAULT_STRATEGY_MODULES == ("trading_runtime.strategies",)
    assert allowed_strategy_modules({STRATEGY_MODULES_ENV: " "}) == DEFAULT_STRATEGY_MODULES
    assert allowed_strategy_modules({STRATEGY_MODULES_ENV: "a.b, c,"}) == ("a.b", "c")
    with pytest.raises(ValueError, match=r"TRADING_RUNTIME_STRATEGY_MODULES=.*'my-pkg'"):
        allowed_strategy_modules({STRATEGY_MODULES_ENV: "ok,my-pkg"})
    with pytest.raises(ValueError, match="invalid trading-runtime settings: TRADING_RUNTIME_STRAT"):
        load_settings({STRATEGY_MODULES_ENV: "a..b"})
    assert is_allowed_module("a.b", ["a.b"]) and is_allowed_module("a.b.c", ["a.b"])
    assert not is_allowed_module("a.bc", ["a.b"]) and not is_allowed_module("a", ["a.b"])


def test_a_function_outside_the_allowed_modules_is_refused_before_import(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    generated_parts: list[Path],
    hft_config: BacktestConfig,
    pool: WorkerPool,
) -> None:
    # Stands in for subprocess:run, with an import that can be seen.
    marker = tmp_path / "imported"
    _write_module(tmp_path / "lib" / "sneaky_runner.py", marker, "def run(a, b):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    part = validate_part(generated_parts[0])
    for class_path in ("sneaky_runner:run", "subprocess:run"):
        module = class_path.split(":")[0]
        with pytest.raises(ConfigError) as excinfo:
            parse_config(_raw_config(class_path), "c.json")
        assert str(excinfo.value) == (
            f"invalid backtest config c.json:\n  strategy.class_path: {class_path!r} is not"
            f" allowed: module {module!r} is not under a prefix in"
            f" TRADING_RUNTIME_STRATEGY_MODULES ({TEST_STRATEGY_MODULES}); add its package to"
            " that setting (comma-separated module prefixes) to run strategies from it"
        )
        # A config that skipped validation is refused again where strategies are imported.
        unchecked = _unchecked(hft_config, class_path)
        refused = f"strategy.class_path {class_path!r} is not allowed"
        with pytest.raises(StrategyLoadError, match=refused):
            import_class_path(class_path)
        with pytest.raises(StrategyLoadError, match=refused):
            TradingPlatformAdapter().backtest_in_process(unchecked, part, tmp_path / "tp")
        with pytest.raises(ValueError, match=refused):
            strategy_source_hash(class_path)
    with pytest.raises(EngineError, match="'subprocess:run' is not allowed"):
        backtest_part(
            _unchecked(hft_config, "subprocess:run"),
            generated_parts[0],
            tmp_path / "o",
            timeout_s=60,
            pool=pool,
        )
    assert not marker.exists()
    assert "sneaky_runner" not in sys.modules


def test_a_dotted_path_outside_the_allowed_modules_imports_no_parent_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = [tmp_path / "parent_imported", tmp_path / "module_imported"]
    _write_module(tmp_path / "lib" / "outside_pkg" / "__init__.py", markers[0])
    _write_module(
        tmp_path / "lib" / "outside_pkg" / "strat.py", markers[1], "def run(a, b):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    with pytest.raises(ConfigError, match="'outside_pkg.strat:run' is not allowed"):
        parse_config(_raw_config("outside_pkg.strat:run"))
    with pytest.raises(StrategyLoadError, match="'outside_pkg.strat:run' is not allowed"):
        import_class_path("outside_pkg.strat:run")
    assert not any(m.exists() for m in markers)
    assert "outside_pkg" not in sys.modules


def test_the_source_hash_of_an_allowed_strategy_imports_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    marker = tmp_path / "imported"
    _write_module(lib / "user_pkg" / "__init__.py", marker)
    _write_module(lib / "user_pkg" / "sub" / "__init__.py", marker)
    strategy = _write_module(
        lib / "user_pkg" / "sub" / "mm.py", marker, "def mm(a, b):\n    pass\n"
    )
    # Namespace packages (no __init__.py) at the top and one level down.
    in_namespace = _write_module(lib / "user_ns" / "inner" / "mm.py", marker)
    monkeypatch.syspath_prepend(str(lib))
    monkeypatch.setenv(STRATEGY_MODULES_ENV, "user_pkg.sub,user_ns")

    config = parse_config(_raw_config("user_pkg.sub.mm:mm"))
    expected = hashlib.sha256(strategy.read_bytes()).hexdigest()
    assert strategy_source_hash(config.strategy.class_path) == expected
    result_code_version(config)  # what the Dagster process computes
    assert find_module_source("user_ns.inner.mm") == in_namespace
    assert find_module_source("user_pkg.sub.nothing_here") is None
    assert strategy_source_hash("user_pkg.sub.missing:mm") == "unresolved"
    assert not marker.exists()
    assert not any(name.startswith(("user_pkg", "user_ns")) for name in sys.modules)
    # The project's own strategies are found the same way (a package on sys.path).
    assert find_module_source("trading_runtime.strategies.market_maker") == Path(__file__).parents[
        1
    ].joinpath("trading_runtime", "strategies", "market_maker.py")


def test_only_code_defined_in_an_allowed_module_is_a_strategy() -> None:
    # market_maker.py imports njit; naming it through the allowed module is still refused.
    with pytest.raises(StrategyLoadError, match=r"'njit' is defined in 'numba\.core\.decorators'"):
        import_class_path("trading_runtime.strategies.market_maker:njit")


def test_loading_the_dagster_definitions_imports_no_strategy() -> None:
    code = (
        "import sys, trading_runtime.definitions\n"
        "print(sorted(m for m in sys.modules if m.startswith('trading_runtime.strategies')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop(STRATEGY_MODULES_ENV)
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_a_strategy_module_not_found_says_where_it_must_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STRATEGY_MODULES_ENV, "trading_runtime.strategies,my_strategies")
    with pytest.raises(StrategyLoadError) as excinfo:
        import_class_path("my_strategies.mm:run")
    assert str(excinfo.value) == (
        "strategy.class_path 'my_strategies.mm:run': cannot import module 'my_strategies.mm'"
        " (No module named 'my_strategies'); a strategy module must be importable from the engine"
        " worker (its package installed in the worker's environment or its directory on"
        " PYTHONPATH) and under a prefix listed in TRADING_RUNTIME_STRATEGY_MODULES"
    )
    # A module that is found but fails on an import of its own: no such advice.
    _write_module(
        tmp_path / "lib" / "my_strategies" / "mm.py", tmp_path / "imported", "import not_there\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    with pytest.raises(StrategyLoadError) as excinfo:
        import_class_path("my_strategies.mm:run")
    assert str(excinfo.value) == (
        "strategy.class_path 'my_strategies.mm:run': cannot import module 'my_strategies.mm'"
        " (No module named 'not_there')"
    )
    for name in [m for m in sys.modules if m.startswith("my_strategies")]:
        monkeypatch.delitem(sys.modules, name)
