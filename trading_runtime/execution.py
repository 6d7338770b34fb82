"""One backtest inside the current process: adapter, curve, metrics and ``result.json``.

Runs in a worker process (see ``workers``): a timeout cannot interrupt numba code from inside the
process that runs it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trading_runtime.adapters import EngineError, get_adapter
from trading_runtime.charts import part_chart_png
from trading_runtime.config import BacktestConfig
from trading_runtime.data.validate import PartInfo
from trading_runtime.layout import CHART_FILE, CURVE_FILE, RESULT_FILE
from trading_runtime.metrics import compute_metrics, curve_from_record
from trading_runtime.results import (
    canonical_file_hashes,
    canonical_record,
    canonical_steps,
    canonical_unsafe_columns,
    code_inputs,
    content_hash,
    file_hashes,
    runtime_git_commit,
)

__all__ = ["check_record", "execute_backtest", "prepare_out_dir"]


def prepare_out_dir(out_dir: Path) -> Path:
    """A fresh, empty directory: engines append to files they find (trading-platform's events)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if any(out_dir.iterdir()):
            raise EngineError(
                f"output directory {out_dir} is not empty; each run needs a fresh one"
            )
    else:
        out_dir.mkdir(parents=True)
    return out_dir


def _write_curve(record: np.ndarray, contract_size: float, path: Path) -> pa.Table:
    table = curve_from_record(record, contract_size)
    # Fixed writer options so the same table gives the same bytes.
    pq.write_table(table, path, compression="zstd", use_dictionary=False, write_statistics=True)
    return table


def _write_chart(curve: pa.Table, part: str, out_dir: Path) -> dict[str, str]:
    """The part's chart, drawn from the curve it stores; its sha256 by name (``charts``)."""
    png = part_chart_png(curve, part)
    (out_dir / CHART_FILE).write_bytes(png)
    return {CHART_FILE: hashlib.sha256(png).hexdigest()}


def check_record(config: BacktestConfig, part: PartInfo, record: np.ndarray) -> None:
    """A record that says nothing fails the part instead of storing null metrics."""
    if len(record) == 0:
        raise EngineError(
            f"part {part.name}: the strategy recorded no state (0 rows); it must call"
            " recorder.record(hbt) while it runs (is strategy.interval_ns longer than the part's"
            f" {(part.last_local_ts - part.first_local_ts) / 1e9:g} s?)"
        )
    if not np.isfinite(record["price"]).any():
        raise EngineError(
            f"part {part.name}: every recorded price is NaN: the book never had a bid and an ask"
            f" inside engine.roi_lb..roi_ub = {config.engine.roi_lb:g}..{config.engine.roi_ub:g}"
        )


def execute_backtest(config: BacktestConfig, part: PartInfo, out_dir: Path) -> dict[str, Any]:
    """Engine + curve + metrics for one part, inside the current process. Writes ``out_dir``
    and returns what it wrote to ``result.json``."""
    output = get_adapter(config.adapter).run_inline(config, part, out_dir)
    with np.load(output.stats_path) as archive:
        record = archive["0"]
    check_record(config, part, record)
    curve = _write_curve(record, config.engine.contract_size, out_dir / CURVE_FILE)
    book_size = None
    if config.risk.notional_limits is not None:
        book_size = config.risk.notional_limits.max_gross_notional
    steps = canonical_steps(config.engine)
    # Metrics from the record on its grid: the same for every run of the same inputs, although
    # the raw sums may differ in the last bits (see ``results``).
    metrics = compute_metrics(
        canonical_record(record, steps),
        config.engine.contract_size,
        book_size,
        (part.first_local_ts, part.last_local_ts),
    )
    hashes = file_hashes(out_dir)  # the chart is not drawn yet, and never part of the content
    canonical = canonical_file_hashes(hashes, record, steps)  # from memory: no re-read
    provenance = {
        **code_inputs(config, output.engine, output.engine_version, output.framework_sha),
        "runtime_git_commit": runtime_git_commit(),
        "config_id": config.id,
        "strategy": config.strategy.class_path,
        "part": part.name,
        "part_sha256": part.sha256,
        "n_events": part.n_events,
        "files": hashes,
        "canonical_steps": steps,
        # Empty: the content hash is the same for every run of these inputs (see ``results``).
        "canonical_unsafe_columns": canonical_unsafe_columns(record, steps),
        "canonical_files": canonical,
        "content_hash": content_hash(canonical),
        # Listed so that readers check it; not content (a chart change keeps the content hash).
        "charts": _write_chart(curve, part.name, out_dir),
    }
    document = {"metrics": metrics, "provenance": provenance}
    (out_dir / RESULT_FILE).write_text(json.dumps(document, sort_keys=True, indent=1) + "\n")
    return document
