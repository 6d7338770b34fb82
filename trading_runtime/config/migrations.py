"""Keys earlier configs carried, refused with what to write instead.

Nothing is converted silently: a config with an old key fails naming the key and its new
spelling (with the values the config gave), so the config file itself gets updated and its hash
says what it runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["REPLACED_ENGINE_KEYS", "RUNTIME_SUPPLIED_KEYS", "refuse_legacy_engine_keys"]

# Keys the seed's config carried that now belong to the runtime.
RUNTIME_SUPPLIED_KEYS = frozenset({"data_files", "stats_npz_path", "event_bus_path"})

# The engine section's spelling before 0.3.0: each old key and where its value goes now.
REPLACED_ENGINE_KEYS = {
    "maker_fee_rate": "fee_model.maker",
    "taker_fee_rate": "fee_model.taker",
    "entry_latency_ns": "latency.entry_ns",
    "response_latency_ns": "latency.response_ns",
    "use_risk_adverse_queue_model": "queue_model.type",
    "partial_fill_venue": "exchange",
    "roi_lb": "depth.roi_lb",
    "roi_ub": "depth.roi_ub",
}


def _replacement(data: Mapping[str, Any], key: str) -> str:
    """The new spelling of an old engine key, with the values the config gave."""
    get = data.get
    if key == "fee_model":
        maker, taker = get("maker_fee_rate", 0.0), get("taker_fee_rate", 0.0)
        value: Any = {"type": "trading_value", "maker": maker, "taker": taker}
    elif key == "latency":
        entry, response = get("entry_latency_ns", 0), get("response_latency_ns", 0)
        value = {"type": "constant", "entry_ns": entry, "response_ns": response}
    elif key == "queue_model":
        if get("use_risk_adverse_queue_model") is True:
            value = {"type": "risk_adverse"}
        else:  # what hftbacktest used, silently, when the flag was false
            value = {"type": "log_prob2"}
    elif key == "exchange":
        value = "partial_fill" if get("partial_fill_venue") is True else "no_partial_fill"
    else:
        value = {"type": "roi_vector", "roi_lb": get("roi_lb"), "roi_ub": get("roi_ub")}
    return f'"{key}": {json.dumps(value)}'


def refuse_legacy_engine_keys(data: Mapping[str, Any]) -> None:
    """Fail on runtime-supplied paths and on the engine keys before 0.3.0 in a raw engine
    section, naming each key's new spelling."""
    found = sorted(RUNTIME_SUPPLIED_KEYS & set(data))
    if found:
        raise ValueError(
            f"{', '.join(found)} must not be in the config: the runtime supplies data and"
            " output paths per partition"
        )
    old = sorted(set(REPLACED_ENGINE_KEYS) & set(data))
    if old:
        moved = ", ".join(f"{key} -> {REPLACED_ENGINE_KEYS[key]}" for key in old)
        sections = sorted({REPLACED_ENGINE_KEYS[key].split(".")[0] for key in old})
        spelled = ", ".join(_replacement(data, key) for key in sections)
        raise ValueError(
            f"old engine keys (before trading-runtime 0.3.0): {moved}; write {spelled}"
        )
