"""The variants Dagster knows: the base config (``base``) and every point of every sweep file in
the sweeps directory, planned against the current base config.

A sweep file that does not plan (a typo'd key, a bad value...) contributes no variant and is
reported by name with its one-line problem; the others stand. Two files naming the same
effective config give one variant (its key is the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trading_runtime.config import BacktestConfig, apply_overrides
from trading_runtime.sweeps.errors import SweepError
from trading_runtime.sweeps.planning import plan_variants
from trading_runtime.sweeps.sweep_file import load_sweep_file
from trading_runtime.sweeps.variants import BASE_VARIANT_KEY, Variant

__all__ = [
    "SWEEP_FILE_SUFFIX",
    "CurrentVariants",
    "current_variants",
    "sweep_files",
    "variant_config",
]

SWEEP_FILE_SUFFIX = ".json"


@dataclass(frozen=True)
class CurrentVariants:
    """Sweep variants by key, in file and point order (``base`` is not among them: it is the
    config itself), the keys each file gave, and the files that did not plan, with why."""

    variants: dict[str, Variant] = field(default_factory=dict)
    by_file: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """Every variant key, ``base`` first."""
        return [BASE_VARIANT_KEY, *self.variants]


def sweep_files(sweeps_dir: str | Path) -> list[Path]:
    """The sweep files (``*.json``, regular files, by name) in ``sweeps_dir``; none when it does
    not exist."""
    directory = Path(sweeps_dir)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == SWEEP_FILE_SUFFIX and p.is_file())


def current_variants(
    config: BacktestConfig, config_path: str, sweeps_dir: str | Path
) -> CurrentVariants:
    """Every sweep file's variants over ``config``; a file that fails to plan is a problem."""
    found = CurrentVariants()
    for path in sweep_files(sweeps_dir):
        try:
            planned = plan_variants(config, load_sweep_file(path), config_path)
        except SweepError as exc:
            found.problems[path.name] = str(exc)
            continue
        found.by_file[path.name] = [variant.key for variant in planned]
        for variant in planned:
            found.variants.setdefault(variant.key, variant)
    return found


def variant_config(
    config: BacktestConfig, config_path: str, variant: Variant | None
) -> BacktestConfig:
    """The effective config of a variant (None: the base config itself)."""
    if variant is None or not variant.overrides:
        return config
    return apply_overrides(config, dict(variant.overrides), config_path)
