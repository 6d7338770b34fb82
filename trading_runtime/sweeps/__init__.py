"""Parameter sweeps, the pure parts: sweep files in both shapes (``sweep_file``, ``grid``), their
points validated into variants with partition-safe keys (``planning``, ``variants``), and the
statistics that rank variants across parts (``overfitting``, ``walk_forward``, ``leaderboard``)
with their pictures (``charts``). No Dagster here: the orchestration builds on these functions.
"""

from __future__ import annotations

from trading_runtime.sweeps.errors import MAX_PARTITIONS, MAX_SWEEP_POINTS, SweepError
from trading_runtime.sweeps.planning import (
    check_partition_budget,
    plan_variants,
    strategy_parameter_problem,
)
from trading_runtime.sweeps.sweep_file import SweepFile, load_sweep_file, parse_sweep
from trading_runtime.sweeps.variants import (
    MAX_VARIANT_KEY_LENGTH,
    VARIANT_ID_LENGTH,
    Variant,
    compact_json,
    variant_key,
    variant_key_problem,
)

__all__ = [
    "MAX_PARTITIONS",
    "MAX_SWEEP_POINTS",
    "MAX_VARIANT_KEY_LENGTH",
    "VARIANT_ID_LENGTH",
    "SweepError",
    "SweepFile",
    "Variant",
    "check_partition_budget",
    "compact_json",
    "load_sweep_file",
    "parse_sweep",
    "plan_variants",
    "strategy_parameter_problem",
    "variant_key",
    "variant_key_problem",
]
