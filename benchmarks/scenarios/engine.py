"""Child scenario 6: engine throughput per core and the worker task piece by piece."""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import memory_mb
from benchmarks.scenarios.common import Spec
from trading_runtime.layout import CURVE_FILE, RESULT_FILE, STATS_FILE

_REPLAY: Any = None


def _replay_function() -> Any:
    """A numba loop that replays a whole part at a fixed interval, recording (no orders)."""
    global _REPLAY
    if _REPLAY is None:
        from numba import njit

        @njit
        def replay(hbt: Any, recorder: Any, interval_ns: int) -> int:
            steps = 0
            while hbt.elapse(interval_ns) == 0:
                recorder.record(hbt)
                steps += 1
            return steps

        _REPLAY = replay
    return _REPLAY


class _Laps:
    """Consecutive timings: ``lap(name)`` records the seconds since the previous lap."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = now - self.last
        self.last = now


class EngineBench:
    """The configured engine and strategy in this process, timed on whole parts."""

    def __init__(self, work: Path) -> None:
        from trading_runtime.adapters import get_adapter
        from trading_runtime.config import example_config_path, load_config

        self.config = load_config(example_config_path("hftbacktest"))
        self.adapter = get_adapter(self.config.adapter)
        self.interval = int(dict(self.config.strategy.params).get("interval_ns", 100_000_000))
        self.work = work

    def replay(self, part: Path) -> tuple[float, int]:
        """hftbacktest replaying the whole part (elapse + record): seconds and steps."""
        from hftbacktest import Recorder

        from trading_runtime.adapters.hftbacktest import build_asset, build_backtest

        replay_fn = _replay_function()
        started = time.perf_counter()
        engine = self.config.engine
        hbt = build_backtest(engine, build_asset(engine, [str(part)]))
        recorder = Recorder(1, self.config.engine.max_steps)
        steps = replay_fn(hbt, recorder.recorder, self.interval)
        hbt.close()
        return time.perf_counter() - started, int(steps)

    def market_maker(self, part: Path) -> tuple[float, float]:
        """The configured strategy through the adapter: seconds and share of the span reached."""
        import numpy as np

        out = self.work / f"mm-{time.perf_counter_ns()}"
        out.mkdir(parents=True)
        from trading_runtime.data.validate import validate_part

        info = validate_part(part)
        started = time.perf_counter()
        self.adapter.backtest_in_process(self.config, info, out)
        elapsed = time.perf_counter() - started
        with np.load(out / STATS_FILE) as archive:
            record = archive["0"]
        shutil.rmtree(out, ignore_errors=True)
        span = info.last_local_ts - info.first_local_ts
        reached = int(record["timestamp"][-1]) - info.first_local_ts if len(record) else 0
        return elapsed, max(0.0, min(1.0, reached / span)) if span > 0 else 0.0

    def port_pieces(self, part: Path) -> dict[str, float]:
        """The worker task's pieces, timed one by one (as execute_backtest runs them)."""
        from trading_runtime.data.validate import (
            check_events,
            load_part_events,
            sha256_file,
            validate_part,
        )
        from trading_runtime.results.metrics import compute_metrics

        out = self.work / f"pieces-{time.perf_counter_ns()}"
        out.mkdir(parents=True)
        laps = _Laps()
        data = load_part_events(part)
        laps.lap("load_npz")
        check_events(part, data)
        laps.lap("check_events")
        sha256_file(part)
        laps.lap("sha256_part")
        info = validate_part(part)
        laps.lap("validate_part (all three)")
        output = self.adapter.backtest_in_process(self.config, info, out)
        laps.lap("engine backtest_in_process")
        record = self._write_curve(output.stats_path, out)
        laps.lap("curve -> parquet")
        compute_metrics(record, self.config.engine.contract_size, 200_000.0)
        laps.lap("metrics (hftbacktest.stats)")
        for path in sorted(out.iterdir()):
            if path.name != RESULT_FILE:
                sha256_file(path)
        laps.lap("hash result files")
        shutil.rmtree(out, ignore_errors=True)
        return laps.times

    def _write_curve(self, stats_path: Path, out: Path) -> Any:
        """The equity curve from the run's record, written as the worker writes it; the record."""
        import numpy as np
        import pyarrow.parquet as pq

        from trading_runtime.results.metrics import curve_from_record

        with np.load(stats_path) as archive:
            record = archive["0"]
        table = curve_from_record(record, self.config.engine.contract_size)
        pq.write_table(
            table,
            out / CURVE_FILE,
            compression="zstd",
            use_dictionary=False,
            write_statistics=True,
        )
        return record


def child_engine(spec: Spec) -> dict[str, Any]:
    """Engine throughput per core (one process, after warm-up) and the worker task's parts."""
    from trading_runtime.data.validate import load_part_events

    bench = EngineBench(Path(spec["work"]) / "engine")
    standard, large = Path(spec["standard_part"]), Path(spec["large_part"])
    n_large = len(load_part_events(large))
    compile_started = time.perf_counter()
    bench.replay(standard)
    bench.market_maker(standard)
    compile_s = time.perf_counter() - compile_started
    replay_runs = [bench.replay(large) for _ in range(spec["repeats"])]
    mm_runs = [bench.market_maker(large) for _ in range(spec["repeats"])]
    pieces = [bench.port_pieces(standard) for _ in range(max(3, spec["repeats"]))]
    return {
        "events": n_large,
        "compile_s": compile_s,
        "replay_s": [r[0] for r in replay_runs],
        "replay_steps": replay_runs[0][1],
        "mm_s": [r[0] for r in mm_runs],
        "mm_coverage": mm_runs[0][1],
        "pieces": {k: statistics.median(p[k] for p in pieces) for k in pieces[0]},
        "memory": memory_mb(),
    }
