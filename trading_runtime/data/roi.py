"""The ROI a backtest's depth uses: the config's fixed ``roi_lb``..``roi_ub``, or with ``roi:
"auto"`` the inputs' touch widened by the config's margin, and how many of the scored part's
depth events fall outside it (hftbacktest ignores them by design)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trading_runtime.config import BacktestConfig
from trading_runtime.config.engine import RoiVectorDepth
from trading_runtime.config.rules import check_roi_range
from trading_runtime.data.part_info import PartInfo, PartValidationError

__all__ = ["RoiChoice", "config_with_roi", "resolve_roi"]


@dataclass(frozen=True)
class RoiChoice:
    """The ROI of one backtest: where it came from (``config`` or ``auto``), the margin and
    touch it was resolved from (auto only), and the scored part's depth events outside it
    (None until counted)."""

    roi_lb: float
    roi_ub: float
    source: str
    margin: float | None = None
    touch: tuple[float, float] | None = None
    depth_outside_roi: int | None = None

    def provenance(self) -> dict[str, Any]:
        """The result's ``roi`` entry: enough to run the same ROI again."""
        entry: dict[str, Any] = {
            "roi_lb": self.roi_lb,
            "roi_ub": self.roi_ub,
            "source": self.source,
            "depth_outside_roi": self.depth_outside_roi,
        }
        if self.source == "auto":
            entry["margin"] = self.margin
            entry["touch"] = list(self.touch) if self.touch else None
        return entry


def _touch(inputs: Sequence[PartInfo]) -> tuple[float, float] | None:
    lows = [p.touch_min_px for p in inputs if p.touch_min_px is not None]
    highs = [p.touch_max_px for p in inputs if p.touch_max_px is not None]
    if not lows or not highs:
        return None
    return min(lows), max(highs)


def resolve_roi(config: BacktestConfig, inputs: Sequence[PartInfo]) -> RoiChoice | None:
    """The ROI for a backtest over ``inputs`` (warm-up parts, then the scored part); None for
    the hash-map depth. ``roi: "auto"``: ``touch_low * (1 - margin)`` rounded down to the tick
    .. ``touch_high * (1 + margin)`` rounded up, over every input (one asset holds them all)."""
    depth = config.engine.depth
    if not isinstance(depth, RoiVectorDepth):
        return None
    if not depth.auto:
        assert depth.roi_lb is not None and depth.roi_ub is not None
        return RoiChoice(depth.roi_lb, depth.roi_ub, "config")
    scored = inputs[-1]
    touch = _touch(inputs)
    if touch is None:
        raise PartValidationError(
            f"part {scored.path}: no best bid/ask or trade price to set engine.depth roi"
            ' "auto" from; set roi_lb and roi_ub'
        )
    assert depth.margin is not None  # the model fills the default
    tick = config.engine.tick_size
    # Rounded to 10 decimals: tick multiples without float noise (0.1 * 3 = 0.30000000000000004).
    lower = round(math.floor(touch[0] * (1 - depth.margin) / tick) * tick, 10)
    upper = round(math.ceil(touch[1] * (1 + depth.margin) / tick) * tick, 10)
    if upper <= lower:
        upper = lower + tick
    try:
        check_roi_range(lower, upper, tick)
    except ValueError as exc:
        raise PartValidationError(f'part {scored.path}: engine.depth roi "auto": {exc}') from None
    return RoiChoice(lower, upper, "auto", depth.margin, touch)


def config_with_roi(config: BacktestConfig, roi: RoiChoice | None) -> BacktestConfig:
    """The config the engine runs with: ``roi: "auto"`` replaced by the resolved range (the
    config itself, hashed into the result, stays as written)."""
    depth = config.engine.depth
    if roi is None or not isinstance(depth, RoiVectorDepth) or not depth.auto:
        return config
    fixed = RoiVectorDepth(type="roi_vector", roi_lb=roi.roi_lb, roi_ub=roi.roi_ub)
    engine = config.engine.model_copy(update={"depth": fixed})
    return config.model_copy(update={"engine": engine})
