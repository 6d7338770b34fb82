"""The embedded default engine: hftbacktest running a numba strategy directly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numba
import numpy as np
from hftbacktest import Recorder
from numba.core.dispatcher import Dispatcher

from trading_runtime.adapters.base import (
    HFTBACKTEST_DISTRIBUTION,
    EngineError,
    EngineOutput,
    StrategyLoadError,
    import_class_path,
    installed_version,
)
from trading_runtime.adapters.hftbacktest.assets import build_asset, build_backtest
from trading_runtime.adapters.hftbacktest.binding import StrategyBinding, bind_strategy
from trading_runtime.adapters.hftbacktest.returns import (
    check_strategy_return,
    save_strategy_output,
)
from trading_runtime.config import BacktestConfig
from trading_runtime.data.latency import latency_file_path, latency_provenance
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.part_info import PartInfo
from trading_runtime.layout import STATS_FILE

__all__ = ["HftbacktestAdapter"]


def _runtime_record(record: np.ndarray, first_ts: int) -> np.ndarray:
    """For a strategy without a recorder: its start (hftbacktest starts flat, with no balance,
    fees or trades; timestamped at the part's first local timestamp and priced at the end's
    price, so its equity is exactly 0) and the end state the runtime recorded."""
    end = record[-1:]
    start = np.zeros(1, dtype=record.dtype)
    start["timestamp"] = first_ts
    start["price"] = end["price"]
    return np.concatenate([start, end])


class HftbacktestAdapter:
    name = "hftbacktest"

    def version(self) -> str:
        return installed_version(HFTBACKTEST_DISTRIBUTION)

    def framework_sha(self) -> str | None:
        return None

    def load_strategy(self, config: BacktestConfig) -> Any:
        strategy = import_class_path(config.strategy.class_path)
        if not callable(strategy):
            raise StrategyLoadError(
                f"strategy.class_path {config.strategy.class_path!r} is not callable"
            )
        return strategy

    def _build_backtest(
        self, config: BacktestConfig, part: PartInfo, warmup: Sequence[PartInfo] = ()
    ) -> tuple[Any, list[Path]]:
        """The backtest over the warm-up parts then the scored part, and its latency files."""
        inputs = [*warmup, part]
        latency = [path for path in (latency_file_path(config.engine, p) for p in inputs) if path]
        asset = build_asset(config.engine, [p.path for p in inputs], latency)
        return build_backtest(config.engine, asset), latency

    @staticmethod
    def _bind(
        strategy: Any, config: BacktestConfig, part: PartInfo, warmup: Sequence[PartInfo]
    ) -> StrategyBinding:
        binding = bind_strategy(strategy, config, part.last_local_ts, part.first_local_ts)
        if warmup and not binding.takes_recorder:
            # Its start row would be the warm-up's start, which scoring cuts away.
            raise StrategyLoadError(
                f"strategy {config.strategy.class_path!r} has no recorder parameter, so only its"
                " start and end can be recorded; a warm-up needs a strategy that records (a"
                " parameter named recorder or stat, or strategy.recorder_argument)"
            )
        return binding

    def prepare(self, config: BacktestConfig, part: PartInfo) -> None:
        """Compile before the backtest's clock starts: hftbacktest's own numba classes (built and
        closed once) and a numba strategy for their argument types, without running it."""
        strategy = self.load_strategy(config)
        binding = self._bind(strategy, config, part, ())
        hbt, _ = self._build_backtest(config, part)
        try:
            recorder = Recorder(1, 2)  # the row recorded below fits (the last slot never does)
            if not binding.takes_recorder:
                recorder.recorder.record(hbt)  # the runtime records: compile that too
            if not isinstance(strategy, Dispatcher):
                return  # plain Python: nothing more to compile
            arguments = (hbt, *binding.call_arguments(recorder.recorder))
            try:
                strategy.compile(tuple(numba.typeof(a) for a in arguments))
            except numba.core.errors.NumbaError as exc:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise StrategyLoadError(
                    f"strategy {config.strategy.class_path!r} does not compile with numba:"
                    f" {first_line}"
                ) from None
        finally:
            hbt.close()

    def backtest_in_process(
        self,
        config: BacktestConfig,
        part: PartInfo,
        out_dir: Path,
        warmup: Sequence[PartInfo] = (),
    ) -> EngineOutput:
        strategy = self.load_strategy(config)
        binding = self._bind(strategy, config, part, warmup)
        hbt, latency_files = self._build_backtest(config, part, warmup)
        max_steps = config.engine.max_steps
        recorder = Recorder(1, max_steps)
        try:
            returned = strategy(hbt, *binding.call_arguments(recorder.recorder))
            if not binding.takes_recorder:
                recorder.recorder.record(hbt)
        except IndexError as exc:
            if recorder.recorder.i < max_steps:
                raise  # the strategy's own IndexError, reported as it is
            raise EngineError(
                f"part {part.name}: the strategy filled the recorder (engine.max_steps ="
                f" {max_steps} holds {max_steps - 1} rows); raise max_steps or record less often"
            ) from exc
        finally:
            hbt.close()
        check_strategy_return(part.name, returned)
        record = recorder.get(0)
        if not binding.takes_recorder:
            record = _runtime_record(record, part.first_local_ts)
        stats_path = out_dir / STATS_FILE
        # hftbacktest's record format (one array per asset number), with stable zip bytes.
        write_npz_deterministic(stats_path, {"0": record})
        try:
            output = save_strategy_output(returned, out_dir)
        except EngineError as exc:
            raise EngineError(f"part {part.name}: {exc}") from None
        provenance: dict[str, Any] = {
            "recorded_by": "strategy" if binding.takes_recorder else "runtime (start and end)",
            "strategy_output": output,
        }
        provenance.update(latency_provenance(latency_files))
        return EngineOutput(
            stats_path=stats_path,
            event_log_path=None,
            engine=self.name,
            engine_version=self.version(),
            framework_sha=None,
            provenance=provenance,
        )
