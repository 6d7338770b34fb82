"""The engine section: hftbacktest's asset builder, one model per choice (queue, latency, fees,
depth), with hftbacktest 2.4.4's defaults."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from trading_runtime.config.migrations import refuse_legacy_engine_keys
from trading_runtime.config.rules import (
    INT64_MAX,
    StrictModel,
    check_queue_and_exchange,
    check_roi_range,
    known_fixes_once,
)

__all__ = [
    "DEFAULT_ROI_MARGIN",
    "FRAMEWORK_FIXES",
    "LATENCY_DIR",
    "PART_PLACEHOLDER",
    "ConstantLatency",
    "DepthModel",
    "EngineSection",
    "FeeModel",
    "FrameworkFix",
    "HashMapDepth",
    "InterpolatedLatency",
    "L3FifoQueue",
    "LatencyModel",
    "LogProbQueue",
    "PowerProbQueue",
    "QueueModel",
    "RiskAdverseQueue",
    "RoiVectorDepth",
    "latency_file_name",
]

# Fixes the trading-platform adapter can apply around the pinned framework (see
# trading_runtime.adapters.framework_fixes); the order here is the order they are applied in.
FrameworkFix = Literal[
    "clear_inactive_orders",
    "hftbacktest_error_codes",
    "hftbacktest_status_codes",
    "hftbacktest_time_in_force",
    "unacknowledged_orders",
]
FRAMEWORK_FIXES: tuple[str, ...] = get_args(FrameworkFix)


class RiskAdverseQueue(StrictModel):
    """hftbacktest's ``risk_adverse_queue_model()``: a fill only once the queue ahead is gone."""

    type: Literal["risk_adverse"]


class LogProbQueue(StrictModel):
    """``log_prob_queue_model()`` / ``log_prob_queue_model2()`` (log2 is hftbacktest's default)."""

    type: Literal["log_prob", "log_prob2"]


class PowerProbQueue(StrictModel):
    """``power_prob_queue_model(n)``, ``power_prob_queue_model2(n)`` or
    ``power_prob_queue_model3(n)``."""

    type: Literal["power_prob", "power_prob2", "power_prob3"]
    n: float = Field(gt=0)


class L3FifoQueue(StrictModel):
    """``l3_fifo_queue_model()``: market-by-order (L3) data only; no partial-fill exchange."""

    type: Literal["l3_fifo"]


QueueModel = Annotated[
    RiskAdverseQueue | LogProbQueue | PowerProbQueue | L3FifoQueue, Field(discriminator="type")
]


class ConstantLatency(StrictModel):
    """``constant_order_latency(entry, response)``; hftbacktest's default is 0 and 0."""

    type: Literal["constant"]
    entry_ns: int = Field(default=0, ge=0, le=INT64_MAX)
    response_ns: int = Field(default=0, ge=0, le=INT64_MAX)


# A latency file is data: a file name, looked up in ``LATENCY_DIR`` beside the parts, never a path.
LATENCY_DIR = "latency"
PART_PLACEHOLDER = "{part}"


def latency_file_name(pattern: str, part_name: str) -> str:
    """A per-part latency file's name: ``pattern`` with ``{part}`` standing for the part."""
    return pattern.replace(PART_PLACEHOLDER, part_name)


class InterpolatedLatency(StrictModel):
    """``intp_order_latency([file], latency_offset)``: order latency interpolated from a file
    of hftbacktest's order-latency rows. ``file`` is a name in the ``latency/`` directory beside
    the parts; ``{part}`` in it stands for the part's name (one file per part)."""

    type: Literal["intp_order_latency"]
    file: str
    latency_offset_ns: int = Field(default=0, ge=-INT64_MAX, le=INT64_MAX)

    @field_validator("file")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        rest = name.replace(PART_PLACEHOLDER, "part")
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.npz", rest) or ".." in rest:
            raise ValueError(
                f"{name!r}: expected the name of an .npz file in {LATENCY_DIR}/ beside the parts"
                f" (letters, digits, '_', '-', '.'; no path), where the only placeholder is"
                f" {PART_PLACEHOLDER} (the part's name)"
            )
        return name

    def file_name(self, part_name: str) -> str:
        return latency_file_name(self.file, part_name)


LatencyModel = Annotated[ConstantLatency | InterpolatedLatency, Field(discriminator="type")]


class FeeModel(StrictModel):
    """``trading_value_fee_model`` (a rate of traded value), ``trading_qty_fee_model`` (per unit
    of quantity) or ``flat_per_trade_fee_model`` (per fill); negative = rebate. hftbacktest's
    default is trading_value with no fees."""

    type: Literal["trading_value", "trading_qty", "flat_per_trade"]
    maker: float
    taker: float


# ``roi: "auto"``'s default margin: the ROI reaches this fraction of the price beyond the part's
# touch on each side.
DEFAULT_ROI_MARGIN = 0.05


def _unset(value: Any) -> bool:
    return value is None


class RoiVectorDepth(StrictModel):
    """``ROIVectorMarketDepthBacktest``: a vector over the price range roi_lb..roi_ub, or with
    ``roi: "auto"`` over each part's touch (best bid/ask and trade prices) widened by
    ``margin`` (a fraction of the price, 0.05 when not given) on each side, rounded outward
    to the tick; the range used is in the result's provenance (``roi``)."""

    type: Literal["roi_vector"]
    # Left out of the config's JSON when unset, so configs with a fixed ROI keep their hash.
    roi_lb: float | None = Field(default=None, exclude_if=_unset)
    roi_ub: float | None = Field(default=None, exclude_if=_unset)
    roi: Literal["auto"] | None = Field(default=None, exclude_if=_unset)
    margin: float | None = Field(default=None, ge=0, lt=1, exclude_if=_unset)

    @model_validator(mode="before")
    @classmethod
    def _auto_margin(cls, data: Any) -> Any:
        """``roi: "auto"`` without a margin takes the default, written into the config hash."""
        if isinstance(data, dict) and data.get("roi") == "auto" and "margin" not in data:
            return {**data, "margin": DEFAULT_ROI_MARGIN}
        return data

    @model_validator(mode="after")
    def _fixed_or_auto(self) -> RoiVectorDepth:
        fixed = (self.roi_lb is not None, self.roi_ub is not None)
        if self.roi == "auto":
            if any(fixed):
                raise ValueError('roi "auto" sets roi_lb and roi_ub per part: leave them out')
        elif not all(fixed):
            raise ValueError('roi_lb and roi_ub are required (or roi: "auto")')
        elif self.margin is not None:
            raise ValueError('margin applies to roi: "auto" only')
        return self

    @property
    def auto(self) -> bool:
        return self.roi == "auto"


class HashMapDepth(StrictModel):
    """``HashMapMarketDepthBacktest``: any price, slower."""

    type: Literal["hash_map"]


DepthModel = Annotated[RoiVectorDepth | HashMapDepth, Field(discriminator="type")]


class EngineSection(StrictModel):
    """hftbacktest's asset builder (``BacktestAsset``), one field per choice. Fields with a
    default take hftbacktest 2.4.4's own default; those without one (instrument grid, depth)
    must be set. The trading-platform adapter accepts the subset its framework can express."""

    instrument: str | None = Field(default=None, min_length=1)
    tick_size: float = Field(gt=0)
    lot_size: float = Field(gt=0)
    contract_size: float = Field(default=1.0, gt=0, description="linear asset")
    depth: DepthModel
    queue_model: QueueModel = Field(default_factory=lambda: LogProbQueue(type="log_prob2"))
    latency: LatencyModel = Field(default_factory=lambda: ConstantLatency(type="constant"))
    fee_model: FeeModel = Field(
        default_factory=lambda: FeeModel(type="trading_value", maker=0.0, taker=0.0)
    )
    exchange: Literal["no_partial_fill", "partial_fill"] = "no_partial_fill"
    feed_latency_offset_ns: int = Field(default=0, ge=-INT64_MAX, le=INT64_MAX)
    last_trades_capacity: int = Field(default=0, ge=0, le=INT64_MAX)
    max_steps: int = Field(
        default=1_000_000,
        gt=0,
        le=INT64_MAX,
        description="capacity of the recorder (records per part)",
    )
    max_price_tick_levels: int | None = Field(
        default=None, ge=0, le=INT64_MAX, description="trading-platform only"
    )
    initial_snapshot: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_paths_and_old_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refuse_legacy_engine_keys(data)
        return data

    @model_validator(mode="after")
    def _check_models(self) -> EngineSection:
        check_queue_and_exchange(self.queue_model.type, self.exchange)
        depth = self.depth
        if isinstance(depth, RoiVectorDepth) and depth.roi_lb is not None:
            assert depth.roi_ub is not None  # RoiVectorDepth sets both or neither
            check_roi_range(depth.roi_lb, depth.roi_ub, self.tick_size)
        return self

    # Opt-in fixes around trading-platform (adapter trading-platform only). Left out of the
    # config's JSON when empty, so configs without fixes keep their hash.
    framework_fixes: tuple[FrameworkFix, ...] = Field(
        default=(), exclude_if=lambda fixes: not fixes
    )

    @field_validator("framework_fixes", mode="before")
    @classmethod
    def _known_fixes_once(cls, value: Any) -> Any:
        return known_fixes_once(value, FRAMEWORK_FIXES)

    @property
    def roi(self) -> tuple[float, float] | None:
        """The ROI depth's fixed price range; None for the hash-map depth and for ``roi:
        "auto"`` (resolved per part: ``data.roi.resolve_roi``)."""
        depth = self.depth
        if isinstance(depth, RoiVectorDepth) and depth.roi_lb is not None:
            assert depth.roi_ub is not None
            return depth.roi_lb, depth.roi_ub
        return None

    def latency_file(self, part_name: str) -> str | None:
        """The name of the latency file a part uses (in ``latency/`` beside it), if any."""
        if isinstance(self.latency, InterpolatedLatency):
            return self.latency.file_name(part_name)
        return None
