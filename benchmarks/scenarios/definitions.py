"""Scenario 5: loading the definitions with ``many`` partitions registered, in fresh processes.

Run from the parent (``python -c`` and ``dagster definitions validate`` are the fresh
processes), not as a ``--child`` scenario.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.launcher import Launcher

DEFS_LOAD_CODE = """
import json, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
from trading_runtime.definitions import defs
t1 = time.perf_counter()
repo = defs.get_repository_def()
t2 = time.perf_counter()
from trading_runtime.defs.dagster_compat import repository_snapshot
snap = repository_snapshot(repo)
t3 = time.perf_counter()
from dagster import AssetKey, DagsterInstance
instance = DagsterInstance.get()
from trading_runtime.defs.partitions import PARTS_PARTITIONS
keys = instance.get_dynamic_partitions(PARTS_PARTITIONS)
materialized = instance.get_materialized_partitions(AssetKey("backtest_results"))
t4 = time.perf_counter()
print(json.dumps({"import_defs_s": t1 - t0, "repository_def_s": t2 - t1,
                  "repository_snap_s": t3 - t2, "ui_partitions_s": t4 - t3,
                  "partitions": len(keys), "materialized": len(materialized)}))
"""

IMPORT_PROBES = {
    "python -c pass": "pass",
    "import dagster": "import dagster",
    # The module behind the `dagster` command, loaded through its console-script entry point.
    "import dagster CLI": "from importlib.metadata import entry_points\n"
    'entry_points(group="console_scripts")["dagster"].load()',
    "import trading_runtime.backtest.pool (engine worker)": "import trading_runtime.backtest.pool",
    "import trading_runtime.definitions (code location)": "import trading_runtime.definitions",
}


def measure_definitions(launcher: Launcher, env: dict[str, str], repeats: int) -> dict[str, Any]:
    """``repeats`` fresh definition loads (split into their pieces), ``dagster definitions
    validate`` runs and the import costs of the pieces alone."""
    loads = [launcher.python_c(DEFS_LOAD_CODE, env, "defs-load") for _ in range(repeats)]
    dagster = str(Path(sys.executable).with_name("dagster"))
    validate = [dagster, "definitions", "validate", "-m", "trading_runtime.definitions"]
    validates = [launcher.command(validate, env, "validate") for _ in range(repeats)]
    imports = {
        label: [launcher.python_c(code, env, "import")[0] for _ in range(repeats)]
        for label, code in IMPORT_PROBES.items()
    }
    return {
        "python_c_s": [elapsed for elapsed, _ in loads],
        "splits": [parsed for _, parsed in loads],
        "validate_s": validates,
        "imports": imports,
    }
