"""One backtest inside the current process: adapter, curve, metrics and ``result.json``.

Runs in a worker process (see ``workers``): a timeout cannot interrupt numba code from inside the
process that runs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trading_runtime.adapters import EngineError, get_adapter
from trading_runtime.config import BacktestConfig
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.part_info import PartInfo
from trading_runtime.data.roi import RoiChoice, config_with_roi, resolve_roi
from trading_runtime.layout import CHART_FILE, CURVE_FILE, RESULT_FILE
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
from trading_runtime.results.charts import part_chart_png
from trading_runtime.results.finite import check_finite_result
from trading_runtime.results.metrics import compute_metrics, curve_from_record, equity
from trading_runtime.results.provenance import input_entries, inputs_digest
from trading_runtime.results.result import result_json_bytes

__all__ = ["check_record", "execute_backtest", "split_record"]


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


def split_record(record: np.ndarray, scored_start_ts: int) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, scored rows) of a state record: the scored rows are those at or after
    ``scored_start_ts``; the baseline is the last row before it (none when the strategy did
    not record during the warm-up), the state scoring starts from."""
    cut = int(np.searchsorted(record["timestamp"], scored_start_ts, side="left"))
    return record[max(cut - 1, 0) : cut].copy(), record[cut:].copy()


def check_record(config: BacktestConfig, part: PartInfo, record: np.ndarray) -> None:
    """A record that says nothing fails the part instead of storing null metrics."""
    if len(record) == 0:
        raise EngineError(
            f"part {part.name}: the strategy recorded no state (0 rows); it must call"
            " recorder.record(hbt) while it runs (is strategy.interval_ns longer than the part's"
            f" {(part.last_local_ts - part.first_local_ts) / 1e9:g} s?)"
        )
    if not np.isfinite(record["price"]).any():
        roi = config.engine.roi
        where = f" inside engine.depth.roi_lb..roi_ub = {roi[0]:g}..{roi[1]:g}" if roi else ""
        raise EngineError(
            f"part {part.name}: every recorded price is NaN: the book never had a bid and an"
            f" ask{where}"
        )


def _scored_rows(
    part: PartInfo, stats_path: Path, warmup: Sequence[PartInfo]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The record of the scored part and the baseline row before it. With warm-up, the stored
    record (``stats.npz``) is trimmed to the rows from the scored part's first local timestamp
    on, keeping the engine's values as they are (the position, balance and counters carried in
    from the warm-up)."""
    with np.load(stats_path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    if not warmup:
        return arrays["0"], None
    baseline, record = split_record(arrays["0"], part.first_local_ts)
    if len(record) == 0:
        raise EngineError(
            f"part {part.name}: the strategy recorded no state during the scored part (after"
            f" {len(warmup)} warm-up part(s), from local_ts {part.first_local_ts}); it must"
            " keep calling recorder.record(hbt) until end_ts"
        )
    write_npz_deterministic(stats_path, {**arrays, "0": record})
    return record, baseline


def execute_backtest(
    config: BacktestConfig,
    part: PartInfo,
    out_dir: Path,
    warmup: Sequence[PartInfo] = (),
    roi: RoiChoice | None = None,
    chart: bool = True,
) -> dict[str, Any]:
    """Engine + curve + metrics for one part, inside the current process. Writes ``out_dir``
    and returns what it wrote to ``result.json``. ``warmup`` parts (validated, in order) are fed
    to the engine first; the record, metrics and content cover the scored part only. ``roi``
    is the depth's resolved ROI (``data.roi``; resolved here when not given): the engine runs
    with it, the provenance records it, and the config hash stays the config's own. Without
    ``chart`` no chart is drawn (the benchmark's engine floor: charts are the runtime's cost)."""
    if roi is None:
        roi = resolve_roi(config, [*warmup, part])
    engine_config = config_with_roi(config, roi)
    adapter = get_adapter(config.adapter)
    output = adapter.backtest_in_process(engine_config, part, out_dir, warmup=warmup)
    record, baseline = _scored_rows(part, output.stats_path, warmup)
    check_record(engine_config, part, record)
    curve = _write_curve(record, config.engine.contract_size, out_dir / CURVE_FILE)
    book_size = None
    if config.risk is not None and config.risk.notional_limits is not None:
        book_size = config.risk.notional_limits.max_gross_notional
    steps = canonical_steps(config.engine)
    # Metrics from the record on its grid: the same for every run of the same inputs, although
    # the raw sums may differ in the last bits (see ``results``).
    metrics = compute_metrics(
        canonical_record(record, steps),
        config.engine.contract_size,
        book_size,
        (part.first_local_ts, part.last_local_ts),
        None if baseline is None else canonical_record(baseline, steps),
    )
    check_finite_result(
        part.name, record, metrics, {"equity": equity(record, config.engine.contract_size)}
    )
    hashes = file_hashes(out_dir)  # the chart is not drawn yet, and never part of the content
    canonical = canonical_file_hashes(hashes, record, steps)  # from memory: no re-read
    inputs = input_entries(warmup, part)
    digest = inputs_digest(inputs)
    provenance = {
        **code_inputs(config, output.engine, output.engine_version, output.framework_sha),
        # An interpolated-latency file is an input like the part (``results.RESULT_INPUTS``).
        "latency_sha256": None,
        **output.provenance,
        "runtime_git_commit": runtime_git_commit(),
        "config_id": config.id,
        "strategy": config.strategy.class_path,
        "part": part.name,
        "part_sha256": part.sha256,
        # Every input file in feeding order with its role (warmup, scored).
        "inputs": inputs,
        "inputs_sha256": digest,
        "n_events": part.n_events,
        "files": hashes,
        "canonical_steps": steps,
        # Empty: the content hash is the same for every run of these inputs (see ``results``).
        "canonical_unsafe_columns": canonical_unsafe_columns(record, steps),
        "canonical_files": canonical,
        # With warm-up the content also covers the inputs: a changed warm-up part changes it.
        "content_hash": content_hash(canonical, digest if warmup else None),
        # Listed so that readers check it; not content (a chart change keeps the content hash).
        "charts": _write_chart(curve, part.name, out_dir) if chart else {},
    }
    if roi is not None:  # the range the depth used, and the depth events it ignored
        provenance["roi"] = roi.provenance()
    if warmup:
        provenance["scored_start_ts"] = part.first_local_ts
    document = {"metrics": metrics, "provenance": provenance}
    (out_dir / RESULT_FILE).write_bytes(result_json_bytes(document))
    return document
