"""Order latency from the feed: a part's interpolated order-latency file, derived from its own
feed latency as in hftbacktest's "Order Latency Data" tutorial.

The method is hftbacktest's own (``hftbacktest.data.utils.feed_order_latency``): of the events
that carry both an exchange and a local timestamp, the last one of every ``interval_ns`` window
(windows on multiples of the interval since the epoch, by local time) gives a sample of the feed
latency ``local_ts - exch_ts``; each sample becomes one row of hftbacktest's order-latency dtype
(``req_ts, exch_ts, resp_ts, _padding``) with

- ``req_ts = local_ts``,
- ``exch_ts = req_ts + entry_multiplier * feed_latency + entry_offset_ns``,
- ``resp_ts = exch_ts + response_multiplier * feed_latency + response_offset_ns``,

which ``IntpOrderLatency`` (``engine.latency`` of type ``intp_order_latency``) interpolates
between rows. The defaults are the tutorial's: one sample a second, entry 4 times and response 3
times the feed latency (an order travels further than a market-data message), no offsets.

The same part bytes give the same file bytes: the rows are a function of the events, and the
file is written with fixed zip timestamps (``data.npz.write_npz_deterministic``), by temp file
and rename."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trading_runtime.config.engine import latency_file_name
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.part_info import PartValidationError
from trading_runtime.storage import already_there

__all__ = [
    "DEFAULT_METHOD",
    "ORDER_LATENCY_DTYPE",
    "ExistingLatencyFilesError",
    "FeedLatencyError",
    "LatencyMethod",
    "LatencyReport",
    "WrittenLatency",
    "latency_percentiles",
    "latency_target",
    "order_latency_from_events",
    "order_latency_of_part",
    "write_order_latency",
]

# hftbacktest's order-latency row, which IntpOrderLatency reads (``data`` in the .npz): its
# ``feed_order_latency.order_latency_dtype``, whose module imports polars (so it is imported only
# when rows are made; tests/test_feed_latency.py checks the two are the same).
ORDER_LATENCY_DTYPE = np.dtype(
    [("req_ts", "i8"), ("exch_ts", "i8"), ("resp_ts", "i8"), ("_padding", "i8")], align=True
)


class FeedLatencyError(ValueError):
    """A part gives no order latency (one line, naming the part file when known)."""


class ExistingLatencyFilesError(FileExistsError):
    """Latency files would replace files already there (nothing written)."""


@dataclass(frozen=True)
class LatencyMethod:
    """How feed latency becomes order latency (see the module's docstring). Multipliers and
    offsets must not be negative: hftbacktest reads a negative latency as a rejected order. A
    fractional multiplier is applied in float64 by hftbacktest's helper, which rounds the rows'
    times to 256 ns; whole multipliers are exact."""

    interval_ns: int = 1_000_000_000
    entry_multiplier: float = 4.0
    entry_offset_ns: int = 0
    response_multiplier: float = 3.0
    response_offset_ns: int = 0

    def __post_init__(self) -> None:
        if self.interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, not {self.interval_ns}")
        for name in (
            "entry_multiplier",
            "entry_offset_ns",
            "response_multiplier",
            "response_offset_ns",
        ):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {getattr(self, name)}")


# The tutorial's method (the defaults above).
DEFAULT_METHOD = LatencyMethod()


def order_latency_from_events(
    events: np.ndarray, method: LatencyMethod = DEFAULT_METHOD
) -> np.ndarray:
    """The order-latency rows (``ORDER_LATENCY_DTYPE``) of a part's events, in time order.

    ``events`` is hftbacktest's event array with local times in order among the events that
    carry both timestamps (a validated part). ``FeedLatencyError`` when no event carries both,
    as in a part of only exchange-side or only local rows."""
    from hftbacktest import EXCH_EVENT, LOCAL_EVENT
    from hftbacktest.data.utils.feed_order_latency import generate_order_latency

    flags = np.uint64(EXCH_EVENT | LOCAL_EVENT)
    feed_rows = (events["ev"] & flags) == flags
    if not feed_rows.any():
        raise FeedLatencyError(
            f"none of its {len(events)} events carries both an exchange and a local timestamp,"
            " so it has no feed latency to derive order latency from"
        )
    # hftbacktest's helper reads the feed from a file; handing it the array as an in-memory .npz
    # runs exactly its resampling and arithmetic, with no temporary file (and not its writer,
    # np.savez_compressed, which stamps the time into the archive). Only the rows it keeps (both
    # timestamps; it filters the same way), not a copy of the whole part.
    feed = io.BytesIO()
    np.savez(feed, data=events[feed_rows])
    feed.seek(0)
    rows = generate_order_latency(
        feed,
        output_file=None,
        mul_entry=_exact(method.entry_multiplier),
        offset_entry=method.entry_offset_ns,
        mul_resp=_exact(method.response_multiplier),
        offset_resp=method.response_offset_ns,
        resampling_ns=method.interval_ns,
    )
    return np.asarray(rows)


def _exact(multiplier: float) -> float | int:
    """A whole multiplier as an int: the helper adds the latency to a timestamp (~1.7e18 ns) in
    the multiplier's type, and in float64 that rounds the rows' times to 256 ns."""
    return int(multiplier) if float(multiplier).is_integer() else multiplier


def order_latency_of_part(part: Path, method: LatencyMethod = DEFAULT_METHOD) -> np.ndarray:
    """``order_latency_from_events`` of a part file, validated first (one-line errors naming
    the file: ``PartValidationError`` or ``FeedLatencyError``)."""
    # Imported here, as the helper is: validation loads hftbacktest and numba, and this module
    # is loaded with the code location, which never makes rows.
    from trading_runtime.data.validate import validate_part_events

    _, events = validate_part_events(Path(part))
    try:
        return order_latency_from_events(events, method)
    except FeedLatencyError as exc:
        raise FeedLatencyError(f"part {part}: {exc}") from None


def latency_percentiles(rows: np.ndarray) -> dict[str, int]:
    """Entry and response latency (ns) at the 50th, 90th and 99th percentile of the rows."""
    entry = rows["exch_ts"] - rows["req_ts"]
    response = rows["resp_ts"] - rows["exch_ts"]
    out: dict[str, int] = {}
    for name, values in (("entry", entry), ("response", response)):
        for q in (50, 90, 99):
            out[f"{name}_p{q}_ns"] = int(np.percentile(values, q, method="nearest"))
    return out


@dataclass(frozen=True)
class WrittenLatency:
    """A part's order-latency file, and its rows."""

    part: Path
    path: Path
    rows: np.ndarray


@dataclass
class LatencyReport:
    """The files written, and each part that gave none with its one-line error."""

    written: list[WrittenLatency] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def latency_target(part: Path, out_dir: Path, name_pattern: str) -> Path:
    """Where a part's order-latency file goes: ``name_pattern`` in ``out_dir``, ``{part}``
    standing for the part's name."""
    return Path(out_dir) / latency_file_name(name_pattern, Path(part).stem)


def write_order_latency(
    parts: Sequence[Path],
    out_dir: Path,
    name_pattern: str,
    *,
    method: LatencyMethod = DEFAULT_METHOD,
    force: bool = False,
) -> LatencyReport:
    """Each part's order-latency file in ``out_dir`` (``latency_target``). Files already there
    are never replaced unless ``force`` (``ExistingLatencyFilesError``, nothing written). A part
    that gives no latency (invalid, no feed latency) is an error in the report and writes
    nothing; the others are still written."""
    targets = [latency_target(part, out_dir, name_pattern) for part in parts]
    existing = already_there(targets, out_dir, "latency file(s)")
    if existing and not force:
        raise ExistingLatencyFilesError(f"{existing}; pass --force to overwrite")
    report = LatencyReport()
    for part, target in zip(parts, targets, strict=True):
        try:
            rows = order_latency_of_part(Path(part), method)
        except (PartValidationError, FeedLatencyError) as exc:
            report.errors.append(str(exc))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_npz_deterministic(target, {"data": rows})
        report.written.append(WrittenLatency(Path(part), target, rows))
    return report
