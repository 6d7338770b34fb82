"""The leaderboard written beside a sweep's results and shown as text: the ranked table
(``leaderboard.parquet``), the overfitting statistics (``leaderboard.json``) and three pictures
(``leaderboard_heatmap.png``, ``leaderboard_parameters.png``, ``leaderboard_walk_forward.png``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from upath import UPath

from trading_runtime.storage import as_upath, write_file, write_parquet
from trading_runtime.sweeps.charts import heatmap_png, parameters_png, walk_forward_png
from trading_runtime.sweeps.leaderboard import Leaderboard
from trading_runtime.sweeps.stored import StoredSweep

__all__ = [
    "LEADERBOARD_FILE",
    "LEADERBOARD_SUMMARY_FILE",
    "LeaderboardFiles",
    "leaderboard_text",
    "summary",
    "write_leaderboard",
]

LEADERBOARD_FILE = "leaderboard.parquet"
LEADERBOARD_SUMMARY_FILE = "leaderboard.json"
_PICTURES = ("heatmap", "parameters", "walk_forward")
_COLUMNS = ("rank", "key", "total", "mean", "median", "worst", "sharpe", "max_drawdown")


@dataclass(frozen=True)
class LeaderboardFiles:
    table: UPath
    summary: UPath
    pictures: dict[str, UPath]
    pngs: dict[str, bytes]  # the pictures' bytes, for the UI


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def summary(board: Leaderboard, sweep: StoredSweep) -> dict[str, Any]:
    """What the table does not hold: the overfitting statistics and the walk-forward totals."""
    best = board.best_sharpe
    walk = board.walk_forward
    return {
        "metric": board.metric,
        "variants": len(sweep.variants),
        "parts": list(sweep.parts),
        "cells_stored": sweep.stored,
        "pbo": {
            "value": _finite(board.pbo.pbo),
            "reason": board.pbo.reason,
            "blocks": board.pbo.blocks,
            "combinations": board.pbo.combinations,
        },
        "best": None
        if best is None
        else {
            "key": board.rows[0].key,
            "sharpe": _finite(best.sharpe),
            "skew": _finite(best.skew),
            "kurtosis": _finite(best.kurtosis),
            "psr": _finite(best.psr),
            "dsr": _finite(best.dsr),
            "trials": best.trials,
            "expected_max_sharpe": _finite(best.expected_max_sharpe),
            "reason": best.reason,
        },
        "walk_forward": {
            "window": walk.window,
            "total": _finite(walk.total),
            "in_sample_best_total": _finite(float(np.nansum(walk.in_sample_pnl))),
            "picks": [None if pick is None else sweep.variants[pick].key for pick in walk.picks],
            "missing": walk.missing,
        },
    }


def write_leaderboard(
    results: str | Path | UPath, board: Leaderboard, sweep: StoredSweep
) -> LeaderboardFiles:
    """The table, the summary and the pictures into ``results`` (whole files, temp + rename)."""
    base = as_upath(results)
    table = pa.Table.from_pylist(board.table())
    write_parquet(table, base / LEADERBOARD_FILE)
    text = json.dumps(summary(board, sweep), indent=1, sort_keys=True) + "\n"
    write_file(text.encode(), base / LEADERBOARD_SUMMARY_FILE)
    order = {row.key: row for row in board.rows}
    metric = [getattr(order[key], board.metric, None) for key in sweep.keys]
    pngs = {
        "heatmap": heatmap_png(sweep.keys, sweep.parts, sweep.pnl, "PnL per variant and part"),
        "parameters": parameters_png(
            [dict(v.overrides) for v in sweep.variants],
            [np.nan if m is None else m for m in metric],
            f"{board.metric} per-part PnL" if board.metric == "mean" else board.metric,
        ),
        "walk_forward": walk_forward_png(board.walk_forward, sweep.parts),
    }
    pictures: dict[str, UPath] = {}
    for name in _PICTURES:
        pictures[name] = base / f"leaderboard_{name}.png"
        write_file(pngs[name], pictures[name])
    return LeaderboardFiles(
        base / LEADERBOARD_FILE, base / LEADERBOARD_SUMMARY_FILE, pictures, pngs
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def leaderboard_text(board: Leaderboard, sweep: StoredSweep, max_rows: int = 20) -> str:
    """The leaderboard as a markdown table (the first ``max_rows`` variants) and the lines that
    say how far to trust its winner."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for row in board.table()[:max_rows]:
        lines.append("| " + " | ".join(_cell(row[c]) for c in _COLUMNS) + " |")
    if len(board.rows) > max_rows:
        lines.append(f"| … {len(board.rows) - max_rows} more variants |")
    facts = summary(board, sweep)
    pbo = facts["pbo"]
    lines.append(
        f"probability of backtest overfitting (CSCV, S={pbo['blocks']} blocks of"
        f" {len(sweep.parts)} parts): "
        + (_cell(pbo["value"]) if pbo["value"] is not None else f"undefined ({pbo['reason']})")
    )
    best = facts["best"]
    if best is not None:
        dsr = _cell(best["dsr"]) if best["dsr"] is not None else f"undefined ({best['reason']})"
        lines.append(
            f"best {best['key']}: Sharpe per part {_cell(best['sharpe'])}, PSR"
            f" {_cell(best['psr'])}, deflated Sharpe ratio {dsr} (N = {best['trials']} trials)"
        )
    walk = facts["walk_forward"]
    lines.append(
        f"walk-forward (window {walk['window']} parts): out-of-sample picks total"
        f" {_cell(walk['total'])} vs the in-sample best's {_cell(walk['in_sample_best_total'])}"
        f" on the same parts"
    )
    return "\n".join(lines)
