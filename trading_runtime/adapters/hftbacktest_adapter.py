"""The embedded default engine: hftbacktest running a numba strategy directly.

A strategy is a function whose first parameter receives hftbacktest's backtest object; every
other parameter is bound by name (``bind_strategy``): the recorder, the part's end, engine values
and the config's strategy parameters. What the function returns, when it is an array or a number,
is stored with the result (``strategy_output.npy``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hftbacktest
import numba
import numpy as np
from hftbacktest import (
    BacktestAsset,
    HashMapMarketDepthBacktest,
    Recorder,
    ROIVectorMarketDepthBacktest,
)
from numba.core.dispatcher import Dispatcher

from trading_runtime.adapters.base import (
    EngineError,
    EngineOutput,
    StrategyLoadError,
    import_class_path,
)
from trading_runtime.config import (
    LATENCY_DIR,
    BacktestConfig,
    ConstantLatency,
    EngineSection,
    HashMapDepth,
    RoiVectorDepth,
)
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.validate import PartInfo, PartValidationError, sha256_file
from trading_runtime.layout import STATS_FILE

__all__ = [
    "END_TS_PARAMETER",
    "ENGINE_PARAMETERS",
    "HFTBACKTEST_ERRORS",
    "RECORDER_PARAMETERS",
    "SCORED_START_TS_PARAMETER",
    "STRATEGY_OUTPUTS_FILE",
    "STRATEGY_OUTPUT_FILE",
    "HftbacktestAdapter",
    "StrategyBinding",
    "bind_strategy",
    "build_asset",
    "build_backtest",
    "check_strategy_return",
    "latency_file_path",
    "latency_provenance",
    "save_strategy_output",
]

# Filled by the runtime when the strategy declares a parameter of this name.
END_TS_PARAMETER = "end_ts"
# Filled with the scored part's first local timestamp (where a warm-up ends and scoring starts).
SCORED_START_TS_PARAMETER = "scored_start_ts"
# The recorder goes to the parameter of one of these names (hftbacktest's tutorials use both),
# unless ``strategy.recorder_argument`` names another.
RECORDER_PARAMETERS = ("recorder", "stat")
STRATEGY_OUTPUT_FILE = "strategy_output.npy"
STRATEGY_OUTPUTS_FILE = "strategy_output.npz"  # a tuple of arrays or numbers


def _roi_bound(name: str) -> Any:
    def bound(engine: EngineSection) -> float | None:
        roi = engine.roi
        return None if roi is None else roi[0 if name == "roi_lb" else 1]

    return bound


# Engine values a strategy may declare by name; bound from the engine section, so they are
# written once. None: the engine has no such value (hash-map depth has no ROI).
ENGINE_PARAMETERS: Mapping[str, Any] = {
    "tick_size": lambda engine: engine.tick_size,
    "lot_size": lambda engine: engine.lot_size,
    "contract_size": lambda engine: engine.contract_size,
    "roi_lb": _roi_bound("roi_lb"),
    "roi_ub": _roi_bound("roi_ub"),
}
_ENGINE_SOURCES = {
    "tick_size": "engine.tick_size",
    "lot_size": "engine.lot_size",
    "contract_size": "engine.contract_size",
    "roi_lb": "engine.depth.roi_lb",
    "roi_ub": "engine.depth.roi_ub",
}


def latency_file_path(engine: EngineSection, part: PartInfo) -> Path | None:
    """The order-latency file of ``engine.latency`` for a part: ``latency/<file>`` in the
    part's directory (``{part}`` in the name is the part's name). Missing: a clear error, since
    hftbacktest waits forever on a file it cannot open."""
    name = engine.latency_file(part.name)
    if name is None:
        return None
    path = Path(part.path).parent / LATENCY_DIR / name
    if not path.is_file():
        raise PartValidationError(
            f"part {part.name}: engine.latency file {LATENCY_DIR}/{name} does not exist beside"
            f" the part ({path}); interpolated latency files are read from latency/ in the parts'"
            " own directory"
        )
    return path


def latency_provenance(latency_files: Sequence[Path]) -> dict[str, Any]:
    """What a result records of its latency files (the inputs' files in feeding order): the
    scored part's file by name and its sha256; with warm-up files too, their list, and
    ``latency_sha256`` hashes that list. Empty without latency files."""
    if not latency_files:
        return {}
    scored = latency_files[-1]
    recorded: dict[str, Any] = {
        "latency_file": f"{LATENCY_DIR}/{scored.name}",
        "latency_sha256": sha256_file(scored),
    }
    used = list(dict.fromkeys(latency_files))
    if len(used) > 1:
        listed = [{"file": f"{LATENCY_DIR}/{p.name}", "sha256": sha256_file(p)} for p in used]
        recorded["latency_files"] = listed
        recorded["latency_sha256"] = hashlib.sha256(
            json.dumps(listed, sort_keys=True).encode()
        ).hexdigest()
    return recorded


def build_asset(
    engine: EngineSection, data_paths: Sequence[str], latency_paths: Sequence[Path] = ()
) -> BacktestAsset:
    """An hftbacktest asset from the engine section: one builder call per field, reading
    ``data_paths`` in order (warm-up parts, then the scored part) and, for interpolated latency,
    ``latency_paths`` in the same order (one file each, a shared file once)."""
    if isinstance(data_paths, str):  # a str is a sequence too: of one-letter "paths"
        raise TypeError("build_asset takes a list of data paths, not one path")
    asset = BacktestAsset().data(list(data_paths))
    if engine.initial_snapshot is not None:
        asset = asset.initial_snapshot(engine.initial_snapshot)
    asset = asset.linear_asset(engine.contract_size).tick_size(engine.tick_size)
    asset = asset.lot_size(engine.lot_size).last_trades_capacity(engine.last_trades_capacity)
    asset = asset.latency_offset(engine.feed_latency_offset_ns)
    latency = engine.latency
    if isinstance(latency, ConstantLatency):
        asset = asset.constant_order_latency(latency.entry_ns, latency.response_ns)
    else:
        if not latency_paths:
            raise EngineError(f"engine.latency {latency.type} needs its latency file")
        files = [str(path) for path in dict.fromkeys(latency_paths)]
        asset = asset.intp_order_latency(files, latency.latency_offset_ns)
    queue = engine.queue_model
    n = getattr(queue, "n", None)
    builders = {
        "risk_adverse": lambda: asset.risk_adverse_queue_model(),
        "log_prob": lambda: asset.log_prob_queue_model(),
        "log_prob2": lambda: asset.log_prob_queue_model2(),
        "power_prob": lambda: asset.power_prob_queue_model(n),
        "power_prob2": lambda: asset.power_prob_queue_model2(n),
        "power_prob3": lambda: asset.power_prob_queue_model3(n),
        "l3_fifo": lambda: asset.l3_fifo_queue_model(),
    }
    asset = builders[queue.type]()
    fee = engine.fee_model
    fee_builders = {
        "trading_value": asset.trading_value_fee_model,
        "trading_qty": asset.trading_qty_fee_model,
        "flat_per_trade": asset.flat_per_trade_fee_model,
    }
    asset = fee_builders[fee.type](fee.maker, fee.taker)
    if engine.exchange == "partial_fill":
        asset = asset.partial_fill_exchange()
    else:
        asset = asset.no_partial_fill_exchange()
    if isinstance(engine.depth, RoiVectorDepth):
        asset = asset.roi_lb(engine.depth.roi_lb).roi_ub(engine.depth.roi_ub)
    return asset


def build_backtest(engine: EngineSection, asset: BacktestAsset) -> Any:
    """The backtest object of ``engine.depth``'s kind over one asset."""
    if isinstance(engine.depth, HashMapDepth):
        return HashMapMarketDepthBacktest([asset])
    return ROIVectorMarketDepthBacktest([asset])


# hftbacktest 2.4.4's elapse()/wait_*() codes for errors (py-hftbacktest's handle_result):
# a strategy returning one stopped early.
HFTBACKTEST_ERRORS = {
    10: "OrderIdExist",
    11: "OrderRequestInProcess",
    12: "OrderNotFound",
    13: "InvalidOrderRequest",
    14: "InvalidOrderStatus",
    15: "EndOfData (error)",
    100: "DataError",
}


def check_strategy_return(part_name: str, returned: Any) -> None:
    """An hftbacktest error code means the backtest stopped before the end of the data: fail,
    don't report a truncated result as if it were complete."""
    if isinstance(returned, bool | np.bool_) or not isinstance(returned, int | np.integer):
        return
    code = int(returned)
    if code not in HFTBACKTEST_ERRORS:
        return
    raise EngineError(
        f"part {part_name}: hftbacktest stopped the backtest with error code {code}"
        f" ({HFTBACKTEST_ERRORS[code]}) before the end of the data"
    )


def _storable(value: Any) -> np.ndarray | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return np.asarray(value)
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return np.ascontiguousarray(value)
    return None


def _summary(array: np.ndarray) -> dict[str, Any]:
    summary: dict[str, Any] = {"dtype": array.dtype.str, "shape": list(array.shape)}
    if array.ndim == 0:
        value = array.item()
        summary["value"] = value if not isinstance(value, float) or math.isfinite(value) else None
    return summary


def save_strategy_output(returned: Any, out_dir: Path) -> dict[str, Any] | None:
    """Store what the strategy returned when it is an array or a number, as
    ``strategy_output.npy`` (numpy's format has no timestamps: same value, same bytes), or a
    tuple of them, as ``strategy_output.npz`` (entries "0", "1", ...); what result.json says
    about it. None, booleans and elapse()'s end codes 0 and 1 are how a loop ends, not output;
    anything else is refused."""
    if returned is None or isinstance(returned, bool | np.bool_):
        return None
    if isinstance(returned, int | np.integer) and int(returned) in (0, 1):
        return None
    array = _storable(returned)
    if array is not None:
        with open(out_dir / STRATEGY_OUTPUT_FILE, "wb") as handle:
            np.lib.format.write_array(handle, array, allow_pickle=False)
        return {"file": STRATEGY_OUTPUT_FILE, **_summary(array)}
    items = [_storable(item) for item in returned] if isinstance(returned, tuple) else [None]
    if not items or any(item is None for item in items):
        raise EngineError(
            f"the strategy returned a {type(returned).__name__}; the runtime stores an array, a"
            " number or a tuple of them (or nothing: None, True/False, elapse()'s 0 or 1)"
        )
    arrays = {str(i): item for i, item in enumerate(items) if item is not None}
    write_npz_deterministic(out_dir / STRATEGY_OUTPUTS_FILE, arrays)
    return {"file": STRATEGY_OUTPUTS_FILE, "items": [_summary(a) for a in arrays.values()]}


@dataclass(frozen=True)
class StrategyBinding:
    """How each parameter after ``hbt`` is bound: ``(name, source, value)`` in signature order,
    source being ``recorder``, ``end_ts``, ``scored_start_ts``, ``engine``, ``config`` or
    ``default``."""

    class_path: str
    arguments: tuple[tuple[str, str, Any], ...]

    @property
    def takes_recorder(self) -> bool:
        return any(source == "recorder" for _, source, _ in self.arguments)

    def call_arguments(self, recorder: Any) -> tuple[Any, ...]:
        """Arguments after ``hbt``, in order; ``recorder`` where the recorder goes."""
        return tuple(recorder if s == "recorder" else v for _, s, v in self.arguments)


def _source_text(name: str, source: str, recorder_argument: str | None) -> str:
    if source == "recorder":
        via = " (strategy.recorder_argument)" if recorder_argument else ""
        return f"{name} <- the runtime's recorder{via}"
    if source == "end_ts":
        return f"{name} <- the part's last local timestamp"
    if source == "scored_start_ts":
        return f"{name} <- the scored part's first local timestamp (where a warm-up ends)"
    if source == "engine":
        return f"{name} <- {_ENGINE_SOURCES[name]}"
    if source == "default":
        return f"{name} <- its default"
    return f"{name} <- strategy.{name}"


def bind_strategy(
    strategy: Any, config: BacktestConfig, end_ts: int, scored_start_ts: int = 0
) -> StrategyBinding:
    """Bind a strategy's parameters by name; the first receives hftbacktest's backtest object.

    After it: the recorder goes to the parameter named ``strategy.recorder_argument``, else to
    one named ``recorder`` or ``stat`` (none: the strategy does not record; the runtime records
    its start and end). ``end_ts`` gets the part's last local timestamp, ``scored_start_ts`` the
    scored part's first (after a warm-up, where scoring starts); ``tick_size``,
    ``lot_size``, ``contract_size``, ``roi_lb`` and ``roi_ub`` the engine's values (the config may
    not set those a second time); every other parameter its ``strategy.<name>``, else its
    default. Every argument is passed explicitly so numba sees one stable signature. A problem
    fails with the whole binding spelled out."""
    class_path = config.strategy.class_path
    python_function = getattr(strategy, "py_func", strategy)
    try:
        signature = inspect.signature(python_function)
    except (TypeError, ValueError) as exc:
        raise StrategyLoadError(f"strategy.class_path {class_path!r} is not a function") from exc
    parameters = list(signature.parameters.values())
    shown = f"strategy {class_path!r}({', '.join(p.name for p in parameters)})"
    # Arguments are passed by position (numba compiles positional signatures).
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not parameters or any(p.kind not in positional for p in parameters):
        raise StrategyLoadError(
            f"{shown}: expected a function whose first parameter receives hftbacktest's"
            " backtest (hbt), all parameters positional (no *args, keyword-only or **kwargs)"
        )
    params = dict(config.strategy.params)
    recorder_argument = config.strategy.recorder_argument
    names = [p.name for p in parameters[1:]]
    if recorder_argument is not None:
        recorder_name: str | None = recorder_argument
    else:
        candidates = [name for name in names if name in RECORDER_PARAMETERS]
        if len(candidates) > 1:
            raise StrategyLoadError(
                f"{shown}: both {' and '.join(candidates)} could take the recorder; set"
                " strategy.recorder_argument to the one that does"
            )
        recorder_name = candidates[0] if candidates else None
    problems: list[str] = []
    if recorder_argument is not None and recorder_argument not in names:
        problems.append(
            f"strategy.recorder_argument {recorder_argument!r} is not a parameter"
            f" (it has: {', '.join(names) or 'none after hbt'})"
        )
    unknown = sorted(set(params) - set(names))
    for name in unknown:
        problems.append(f"strategy.{name} is not a parameter")
    arguments: list[tuple[str, str, Any]] = []
    descriptions: list[str] = []
    for parameter in parameters[1:]:
        name = parameter.name
        engine_value = ENGINE_PARAMETERS[name](config.engine) if name in ENGINE_PARAMETERS else None
        if name == recorder_name:
            source, value = "recorder", None
        elif name == END_TS_PARAMETER:
            source, value = "end_ts", end_ts
        elif name == SCORED_START_TS_PARAMETER:
            source, value = "scored_start_ts", scored_start_ts
        elif engine_value is not None:
            source, value = "engine", engine_value
        elif name in params:
            source, value = "config", params[name]
        elif parameter.default is not parameter.empty:
            source, value = "default", parameter.default
        else:
            source, value = "missing", None
        text = _source_text(name, source, recorder_argument)
        taken = source in ("recorder", "end_ts", "scored_start_ts", "engine") and name in params
        if source == "missing":
            text += f" (missing: set strategy.{name} in the config)"
            problems.append(f"{name} is missing")
        elif taken:
            text += f" (strategy.{name} is set too: remove it from the config)"
            problems.append(f"strategy.{name} is bound by the runtime")
        descriptions.append(text)
        arguments.append((name, source, value))
    if problems:
        raise StrategyLoadError(
            f"{shown}: {'; '.join(problems)}. Binding: hbt <- the backtest"
            + "".join(f"; {text}" for text in descriptions)
        )
    return StrategyBinding(class_path, tuple(arguments))


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
        return str(hftbacktest.__version__)

    def framework_sha(self) -> str | None:
        return None

    def load_strategy(self, config: BacktestConfig) -> Any:
        strategy = import_class_path(config.strategy.class_path)
        if not callable(strategy):
            raise StrategyLoadError(
                f"strategy.class_path {config.strategy.class_path!r} is not callable"
            )
        return strategy

    def _backtest(
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
        hbt, _ = self._backtest(config, part)
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

    def run_inline(
        self,
        config: BacktestConfig,
        part: PartInfo,
        out_dir: Path,
        warmup: Sequence[PartInfo] = (),
    ) -> EngineOutput:
        strategy = self.load_strategy(config)
        binding = self._bind(strategy, config, part, warmup)
        hbt, latency_files = self._backtest(config, part, warmup)
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
