"""One conversion: raw files in, hftbacktest's event array out, by hftbacktest's own converter
for the format, called as its "Data Preparation" tutorial calls it. What the converter corrected
(it only prints it) becomes structured metadata."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hftbacktest import EXCH_EVENT, LOCAL_EVENT
from hftbacktest.data.utils import binancefutures, bybit, tardis

from trading_runtime.data.ingest import feeds
from trading_runtime.data.ingest.capture import captured_stdout
from trading_runtime.data.ingest.errors import RawDataError
from trading_runtime.data.ingest.formats import FORMATS
from trading_runtime.data.ingest.tardis import (
    check_tardis_header,
    diagnose_tardis,
    pair_tardis_files,
)

__all__ = ["FORMATS", "Conversion", "RawUnit", "convert_unit", "group_raw_files"]

# bybit.convert_depth's default: the 50-level order book topic.
BYBIT_DEPTH_LEVEL = 50
_AHEAD = re.compile(r"local_timestamp is ahead of exch_timestamp by (-?\d+)")
# Progress lines the converters print; everything else they print is kept as a message.
_PROGRESS = ("Correcting the latency", "Correcting the event order", "Reading ", "Saving to ")


@dataclass(frozen=True)
class RawUnit:
    """Raw files converted together: one feed file, or a Tardis trades + book pair."""

    format: str
    files: tuple[Path, ...]
    symbol: str | None = None


@dataclass(frozen=True)
class Conversion:
    """A converter's output: the events, the converter's call, and what it corrected."""

    unit: RawUnit
    symbol: str
    events: np.ndarray
    converter: str
    corrections: dict[str, Any] = field(default_factory=dict)


def group_raw_files(
    raw_format: str, paths: Sequence[Path]
) -> tuple[list[RawUnit], list[RawDataError]]:
    """The conversions ``paths`` make: one per feed file, one per Tardis symbol-day; files that
    cannot be grouped fail alone."""
    if raw_format not in FORMATS:
        raise ValueError(f"unknown raw format {raw_format!r}; expected one of {list(FORMATS)}")
    paths = sorted(Path(p) for p in paths)
    if raw_format != "tardis":
        return [RawUnit(raw_format, (path,)) for path in paths], []
    pairs, errors = pair_tardis_files(paths)
    return [RawUnit("tardis", pair.files, pair.symbol) for pair in pairs], errors


def _corrections(printed: list[str], events: np.ndarray, seen: dict[str, int]) -> dict[str, Any]:
    ahead = [int(m.group(1)) for line in printed if (m := _AHEAD.search(line))]
    both = np.uint64(EXCH_EVENT | LOCAL_EVENT)
    flags = events["ev"] & both
    return {
        # correct_local_timestamp: added to every local_ts when some local_ts preceded its
        # exch_ts (the feed's clock behind the exchange's), in ns.
        "latency_offset_ns": ahead[0] if ahead else 0,
        # correct_event_order: events whose exchange and local order differ, split into an
        # exchange-only and a local-only row.
        "reordered_events": int(np.count_nonzero(flags == np.uint64(EXCH_EVENT))),
        "events": len(events),
        "messages_by_kind": dict(sorted(seen.items())),
        "printed": [
            line for line in printed if not line.startswith(_PROGRESS) and not _AHEAD.search(line)
        ],
    }


def _convert_feed(unit: RawUnit) -> Conversion:
    (path,) = unit.files
    if unit.format == "binancefutures":
        seen = feeds.check_binancefutures(path)
        call = "hftbacktest.data.utils.binancefutures.convert(path)"
    else:
        seen = feeds.check_bybit(path, BYBIT_DEPTH_LEVEL)
        call = "hftbacktest.data.utils.bybit.convert_depth(path)"
    printed: list[str] = []
    try:
        with captured_stdout(printed):
            if unit.format == "binancefutures":
                events = binancefutures.convert(str(path))
            else:
                events = bybit.convert_depth(str(path))
    except RawDataError:
        raise
    except Exception as exc:  # the converter's own errors, whatever their type
        raise feeds.diagnose_feed(path, exc) from None
    symbol = feeds.symbol_of(path, unit.format) or path.name.split(".", 1)[0]
    return Conversion(unit, symbol, events, call, _corrections(printed, events, seen))


def _convert_tardis(unit: RawUnit) -> Conversion:
    kinds = ["trades", "incremental_book_L2"][-len(unit.files) :]
    for path, kind in zip(unit.files, kinds, strict=True):
        check_tardis_header(path, kind)
    printed: list[str] = []
    try:
        with captured_stdout(printed):
            events = tardis.convert([str(p) for p in unit.files])
    except Exception as exc:
        for path, kind in zip(unit.files, kinds, strict=True):
            found = diagnose_tardis(path, kind, exc)
            if found.line is not None:
                raise found from None
        raise RawDataError(
            unit.files[-1], f"the converter failed: {type(exc).__name__}: {exc}"
        ) from None
    call = "hftbacktest.data.utils.tardis.convert([trades, incremental_book_L2])"
    seen = {kind: 1 for kind in kinds}
    return Conversion(unit, unit.symbol or "", events, call, _corrections(printed, events, seen))


def convert_unit(unit: RawUnit) -> Conversion:
    """Convert one unit, or raise ``RawDataError`` naming the raw file (and line)."""
    if unit.format == "tardis":
        return _convert_tardis(unit)
    return _convert_feed(unit)
