"""The worker's side of a backtest: what runs inside an engine worker process.

Engines run in worker processes because a timeout cannot interrupt numba code from inside the
same process; workers stay warm across partitions so numba compiles once per worker.

Two clocks bound a task, both enforced by the kernel inside the worker (``SIGALRM`` with its
default action ends the process even while numba holds the GIL):

* the start-up limit covers reading and validating the part and the adapter's preparation
  (hftbacktest: numba compiles the strategy for the engine's types, once per worker and config);
* the backtest timeout starts only then, so a loaded machine or a cold worker never eats into it.

A worker dies with its parent (``PR_SET_PDEATHSIG``), so a killed run leaves no engine running.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from hftbacktest import Recorder

from trading_runtime.adapters import EngineError, get_adapter
from trading_runtime.backtest.execute import execute_backtest
from trading_runtime.backtest.memory import WORKER_MEMORY_ENV, apply_memory_limit
from trading_runtime.backtest.private_inputs import PrivateInputs, copy_inputs, private_inputs_dir
from trading_runtime.config import BacktestConfig, parse_config
from trading_runtime.data.config_fit import check_part_fits_config, check_warmup_fits_config
from trading_runtime.data.part_info import PartInfo, PartValidationError, sha256_file
from trading_runtime.data.roi import RoiChoice, config_with_roi, resolve_roi
from trading_runtime.data.touch import count_depth_outside
from trading_runtime.data.validate import load_part_events, validate_part, validate_part_events
from trading_runtime.layout import engine_started_marker, part_key
from trading_runtime.results.charts import part_chart_png
from trading_runtime.results.metrics import compute_metrics, curve_from_record

__all__ = [
    "backtest_in_worker",
    "init_worker",
    "prepare_in_worker",
    "validate_in_worker",
]

_PR_SET_PDEATHSIG = 1

# Configs (by hash) this worker has already prepared (compiled their strategy).
_prepared: set[str] = set()
_post_processing_warm = False
_memory_limit_mb = 0


def init_worker(parent_pid: int, memory_limit_mb: int = 0) -> None:
    """Runs first in every worker: die with the parent, let SIGALRM end the process, hold at
    most ``memory_limit_mb`` MB of data (0: no limit; ``memory``), and leave Ctrl-C (SIGINT to
    the terminal's process group) to the parent, which stops the workers."""
    global _memory_limit_mb
    _memory_limit_mb = memory_limit_mb
    apply_memory_limit(memory_limit_mb)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """The kernel ends this process after ``seconds`` of wall time unless the block is done."""
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _warm_up_post_processing() -> None:
    """Curve, metrics, parquet and chart once on a synthetic record: their libraries (polars,
    pandas via pyarrow, Pillow and the chart's font) load lazily, which takes seconds on a cold
    worker; not on the backtest's clock."""
    global _post_processing_warm
    if _post_processing_warm:
        return
    record = np.zeros(64, Recorder(1, 1).recorder.records.dtype)
    record["timestamp"] = np.arange(64) * 1_000_000_000
    record["price"] = 100.0
    table = curve_from_record(record, 1.0)
    compute_metrics(record, 1.0, 1.0, (0, 63_000_000_000))
    pq.write_table(table, io.BytesIO())
    table.to_pandas()
    part_chart_png(table, "warm-up")
    _post_processing_warm = True


def _prepare(config: BacktestConfig, part: PartInfo, roi: RoiChoice | None) -> None:
    """The adapter's preparation before the clock (hftbacktest: compile the numba strategy),
    once per worker and config (with ``roi: "auto"``, not once per resolved range). A strategy
    that does not compile fails here, clearly."""
    _warm_up_post_processing()
    key = config.config_hash()
    if key in _prepared:
        return
    get_adapter(config.adapter).prepare(config_with_roi(config, roi), part)
    _prepared.add(key)


def backtest_in_worker(
    config_json: str,
    part_path: str,
    out_dir: str,
    timeout_s: float,
    startup_timeout_s: float,
    warmup_paths: Sequence[str] = (),
    chart: bool = True,
) -> tuple[dict[str, Any], float, float]:
    """``result.json``'s document, the backtest's wall time and the start-up's before it
    (``chart=False``: no chart drawn, for the benchmark's engine floor).

    The engine reads private copies of the input files, made before they are validated and
    hashed (``private_inputs``): a file rewritten meanwhile cannot change what was hashed. Out
    of memory (the worker's limit, ``memory``), the part fails naming the limit, once what the
    backtest held is released."""
    try:
        return _backtest(
            config_json, part_path, out_dir, timeout_s, startup_timeout_s, warmup_paths, chart
        )
    except MemoryError:
        pass  # leave the except block first: its traceback holds what filled the memory
    gc.collect()
    limit = f"its limit of {_memory_limit_mb} MB" if _memory_limit_mb else "the memory there is"
    raise EngineError(
        f"part {Path(part_path).stem}: out of memory: the backtest needed more than {limit}"
        f" ({WORKER_MEMORY_ENV}; does the strategy keep growing something?)"
    )


def _backtest(
    config_json: str,
    part_path: str,
    out_dir: str,
    timeout_s: float,
    startup_timeout_s: float,
    warmup_paths: Sequence[str] = (),
    chart: bool = True,
) -> tuple[dict[str, Any], float, float]:
    """``backtest_in_worker`` without its memory error."""
    task_started = time.perf_counter()
    inputs_dir = private_inputs_dir(Path(out_dir))
    private: PrivateInputs | None = None
    try:
        with _alarm(startup_timeout_s):
            config = parse_config(json.loads(config_json), "<worker>")
            private = copy_inputs(
                config, Path(part_path), list(map(Path, warmup_paths)), inputs_dir
            )
            # hftbacktest waits forever on a file it cannot read: validate before it opens the
            # part. Validating here, not in the parent, spreads decoding and hashing over workers.
            part, events = _scored_part(private.part)
            warmup = [_scored_part(path)[0] for path in private.warmup]
            roi = resolve_roi(config, [*warmup, part])  # the config's, or "auto" over the inputs
            if warmup:
                check_warmup_fits_config(config, warmup, part, roi)
            else:
                check_part_fits_config(config, part, roi)  # the ROI covers its touch, it records
            if roi is not None:  # the scored part's depth events the ROI depth ignores
                outside = _depth_outside_roi(part, events, roi.roi_lb, roi.roi_ub)
                roi = dataclasses.replace(roi, depth_outside_roi=outside)
            del events
            _prepare(config, part, roi)
        engine_started_marker(Path(out_dir)).touch()
        started = time.perf_counter()
        with _alarm(timeout_s):
            document = execute_backtest(config, part, Path(out_dir), warmup, roi, chart)
    except (PartValidationError, EngineError) as exc:
        if private is None:
            raise
        raise type(exc)(private.named_originally(str(exc))) from None
    finally:
        shutil.rmtree(inputs_dir, ignore_errors=True)
    return document, time.perf_counter() - started, started - task_started


# Parts this worker validated, by sha256: a part validated or backtested again (another variant
# of a sweep, a warm-up part, a part this worker checked in the validation run moments before) is
# hashed (~1 ms a 1 MB part) and its facts reused instead of decoding, checking and replaying it
# again.
# The facts are a function of the bytes alone, and this process's code computed them.
_VALIDATED_KEPT = 20_000  # a part's facts are a few hundred bytes
_validated: dict[str, PartInfo] = {}
# Depth events outside an ROI, by (sha256, ROI bounds): the same for every variant of a sweep.
_outside: dict[tuple[str, float, float], int] = {}


def _remember_validated(info: PartInfo) -> None:
    _validated.pop(info.sha256, None)
    _validated[info.sha256] = info
    while len(_validated) > _VALIDATED_KEPT:
        del _validated[next(iter(_validated))]


def _scored_part(path: Path) -> tuple[PartInfo, np.ndarray | None]:
    """``validate_part_events`` of ``path``; no events when this worker knew the bytes."""
    try:
        digest: str | None = sha256_file(path)
    except OSError:  # missing, a directory, a FIFO: validation names the problem
        digest = None
    known = _validated.get(digest) if digest else None
    if known is not None:
        return dataclasses.replace(known, path=str(path), name=part_key(path)), None
    info, events = validate_part_events(path, digest)
    _remember_validated(info)
    return info, events


def _depth_outside_roi(part: PartInfo, events: np.ndarray | None, low: float, high: float) -> int:
    key = (part.sha256, low, high)
    if key not in _outside:
        if events is None:
            events = load_part_events(Path(part.path))
        _outside[key] = count_depth_outside(events, low, high)
        while len(_outside) > _VALIDATED_KEPT:
            del _outside[next(iter(_outside))]
    return _outside[key]


def validate_in_worker(part_path: str) -> PartInfo:
    """The validation run's check of a part: bytes this worker already validated (the same
    parts validated again in a warm process, a sweep's parts) are hashed, not checked again."""
    return _scored_part(Path(part_path))[0]


def prepare_in_worker(config_json: str, part_path: str, startup_timeout_s: float) -> str:
    """Compile ``config``'s strategy in this worker, on a private copy of a part, without a
    backtest: the engine service warms its workers this way before the first click. The
    config's hash."""
    with tempfile.TemporaryDirectory(prefix="warm-up-") as scratch, _alarm(startup_timeout_s):
        config = parse_config(json.loads(config_json), "<worker>")
        private = copy_inputs(config, Path(part_path), [], Path(scratch) / "inputs")
        part = validate_part(private.part)
        _prepare(config, part, resolve_roi(config, [part]))
    return config.config_hash()
