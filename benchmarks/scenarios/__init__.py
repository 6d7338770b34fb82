"""The scenarios a ``--child`` process runs, by name, and the child process's entry point.

Only the standard library at module level (here and in every scenario module): a child process
imports them all before its scenario runs; Dagster, trading-runtime and numpy are imported inside
the scenario functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.measure import memory_mb
from benchmarks.scenarios.backfill import child_backfill
from benchmarks.scenarios.common import Spec
from benchmarks.scenarios.engine import child_engine
from benchmarks.scenarios.floor import child_floor
from benchmarks.scenarios.many import child_aggregate, child_prepare_many
from benchmarks.scenarios.parts import child_generate, child_screen
from benchmarks.scenarios.perpart import child_cli, child_perpart

CHILDREN: dict[str, Callable[[Spec], dict[str, Any]]] = {
    "generate": child_generate,
    "screen": child_screen,
    "floor": child_floor,
    "backfill": child_backfill,
    "perpart": child_perpart,
    "cli": child_cli,
    "prepare_many": child_prepare_many,
    "aggregate": child_aggregate,
    "engine": child_engine,
}


def child_main(scenario: str, spec_path: Path, out_path: Path) -> None:
    """Run one scenario on the spec in ``spec_path``; write its result (JSON) to ``out_path``."""
    import warnings

    warnings.filterwarnings("ignore")
    spec = json.loads(spec_path.read_text())
    result = CHILDREN[scenario](spec)
    result.setdefault("memory", memory_mb())
    out_path.write_text(json.dumps(result))
