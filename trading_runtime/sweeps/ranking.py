"""A sweep's variants ranked from their stored results: what `trading-runtime leaderboard` and
the ``sweep_leaderboard`` asset both do. The trials ledger grows by the variants that ran."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from upath import UPath

from trading_runtime.config import BacktestConfig
from trading_runtime.sweeps.leaderboard import Leaderboard, build_leaderboard
from trading_runtime.sweeps.report import (
    LeaderboardFiles,
    leaderboard_text,
    summary,
    write_leaderboard,
)
from trading_runtime.sweeps.stored import StoredSweep, load_sweep_results, record_trials
from trading_runtime.sweeps.variants import Variant
from trading_runtime.sweeps.walk_forward import DEFAULT_WINDOW

__all__ = ["RankedSweep", "default_window", "rank_variants"]


@dataclass(frozen=True)
class RankedSweep:
    board: Leaderboard
    stored: StoredSweep
    files: LeaderboardFiles
    trials: int

    @property
    def text(self) -> str:
        return leaderboard_text(self.board, self.stored)

    @property
    def summary(self) -> dict[str, Any]:
        return summary(self.board, self.stored)

    @property
    def pngs(self) -> dict[str, bytes]:
        return self.files.pngs


def default_window(parts: int) -> int:
    """Walk-forward's default: ``DEFAULT_WINDOW`` parts, or one fewer than there are, so at
    least one part is scored out of sample."""
    return max(1, min(DEFAULT_WINDOW, parts - 1))


def rank_variants(
    results: str | Path | UPath,
    config: BacktestConfig,
    variants: Sequence[Variant],
    *,
    metric: Literal["mean", "sharpe"] = "mean",
    window: int | None = None,
) -> RankedSweep | None:
    """Rank ``variants`` (over the base ``config``) by their results under ``results``, write
    the leaderboard files there, and add the variants that ran to the trials ledger; None when
    none of them has a stored result."""
    stored = load_sweep_results(results, variants)
    if not stored.stored:
        return None
    # The ledger counts variants that ran (a stored result), not every one a file plans.
    ran = [v.config_hash for v, has in zip(variants, stored.has_result, strict=True) if has]
    trials = record_trials(results, config.config_hash(), ran)
    board = build_leaderboard(
        stored.keys,
        stored.pnl,
        part_drawdowns=stored.drawdowns,
        metric=metric,
        trials=trials,
        window=window if window is not None else default_window(len(stored.parts)),
    )
    return RankedSweep(board, stored, write_leaderboard(results, board, stored), trials)
