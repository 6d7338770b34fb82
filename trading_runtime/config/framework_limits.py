"""What the trading-platform adapter can express, and the fields only it uses.

The pinned framework's ``HftEngineConfig`` builds one kind of asset; a config for adapter
``trading-platform`` that asks for more is refused when it is loaded, and a config for another
adapter may not set the trading-platform-only fields.
"""

from __future__ import annotations

from trading_runtime.config.engine import (
    ConstantLatency,
    EngineSection,
    RiskAdverseQueue,
    RoiVectorDepth,
)

__all__ = [
    "CANNOT_EXPRESS",
    "framework_engine_problems",
    "platform_only_problems",
]

CANNOT_EXPRESS = "adapter trading-platform cannot express"


def framework_engine_problems(engine: EngineSection) -> list[str]:
    """What trading-platform's ``HftEngineConfig`` (pinned commit) cannot express: it builds an
    ROI-vector asset with constant latency, trading-value fees, and the risk-averse queue model
    or hftbacktest's default (log_prob2)."""
    problems = []
    if engine.instrument is None:
        problems.append("instrument: missing field (the framework needs it)")
    if engine.max_price_tick_levels is None:
        problems.append("max_price_tick_levels: missing field (the framework needs it)")
    if not isinstance(engine.depth, RoiVectorDepth):
        problems.append(f"depth {engine.depth.type} (only roi_vector)")
    elif engine.depth.auto:
        problems.append('depth roi "auto" (only a fixed roi_lb..roi_ub)')
    queue = engine.queue_model
    if not isinstance(queue, RiskAdverseQueue) and queue.type != "log_prob2":
        problems.append(f"queue_model {queue.type} (only risk_adverse or log_prob2)")
    if not isinstance(engine.latency, ConstantLatency):
        problems.append(f"latency {engine.latency.type} (only constant)")
    if engine.fee_model.type != "trading_value":
        problems.append(f"fee_model {engine.fee_model.type} (only trading_value)")
    if engine.feed_latency_offset_ns != 0:
        problems.append("feed_latency_offset_ns (only 0)")
    return problems


def platform_only_problems(engine: EngineSection, adapter: object) -> list[str]:
    """Engine fields only the trading-platform adapter uses, set for ``adapter``."""
    problems = []
    if engine.max_price_tick_levels is not None:
        problems.append(
            "max_price_tick_levels is used only by the trading-platform adapter; remove it"
        )
    if engine.framework_fixes:
        problems.append(
            "framework_fixes patch the trading-platform framework; adapter"
            f" {adapter!r} does not run it: remove them or set adapter"
            ' "trading-platform"'
        )
    return problems
