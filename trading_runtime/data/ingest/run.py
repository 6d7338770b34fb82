"""Raw files to parts: group, convert, cut into windows, carry the book over, validate, write.

A part is ``<out>/<name>.npz``, exactly hftbacktest's event array (``data``), written with stable
bytes (``data.npz.write_npz_deterministic``: fixed zip timestamps) by temp file and rename. Its
lineage is a sidecar, ``<out>/lineage/<name>.json``: the raw inputs' sha256, the converter and
hftbacktest's version, the window, the snapshot's source and what the converter corrected. With
``IngestSpec.latency_file``, each part's order latency from its feed is ``<out>/latency/<file>``.
A raw file that fails writes nothing: every part of a conversion is built and checked in memory
first, so parts stored before stay as they were; the other raw files still convert."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from trading_runtime.config.engine import LATENCY_DIR, latency_file_name
from trading_runtime.data.ingest.convert import Conversion, convert_unit, group_raw_files
from trading_runtime.data.ingest.errors import RawDataError
from trading_runtime.data.ingest.feed_latency import FeedLatencyError, order_latency_from_events
from trading_runtime.data.ingest.windows import Window, cut_windows, same_day, snapshot_prefix
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.part_info import PartValidationError, sha256_file
from trading_runtime.data.validate import check_events
from trading_runtime.layout import LINEAGE_DIR, part_file_name

__all__ = ["LINEAGE_DIR", "IngestReport", "IngestSpec", "IngestedPart", "ingest_raw"]


@dataclass(frozen=True)
class IngestSpec:
    """How raw files become parts: the format, the window (None: one part per conversion) and
    whether a part starts from the previous one's book (needs the instrument's tick and lot)."""

    raw_format: str
    window_ns: int | None = None
    snapshots: bool = False
    tick_size: float | None = None
    lot_size: float | None = None
    # Also each part's order latency from its feed (``feed_latency``): the file's name in
    # ``<out>/latency/``, ``{part}`` standing for the part's name; None: no latency files.
    latency_file: str | None = None

    def __post_init__(self) -> None:
        if self.snapshots and (self.tick_size is None or self.lot_size is None):
            raise ValueError("snapshots need the instrument's tick_size and lot_size")
        if self.window_ns is not None and (self.window_ns <= 0 or self.window_ns % 60e9):
            raise ValueError("the window must be a positive whole number of minutes")


@dataclass(frozen=True)
class IngestedPart:
    path: Path
    lineage: dict[str, Any]


@dataclass
class IngestReport:
    parts: list[IngestedPart] = field(default_factory=list)
    errors: list[RawDataError] = field(default_factory=list)


def _with_snapshots(
    windows: list[Window], spec: IngestSpec
) -> list[tuple[Window, str | None, int]]:
    """Each window with its snapshot prefix (after a day's first), its source and size."""
    out: list[tuple[Window, str | None, int]] = []
    previous: Window | None = None
    for window in windows:
        source, size = None, 0
        if spec.snapshots and previous is not None and same_day(previous, window):
            assert spec.tick_size is not None and spec.lot_size is not None
            before = out[-1][0].events  # the previous part as stored, its own prefix included
            prefix = snapshot_prefix(before, window.events, spec.tick_size, spec.lot_size)
            source, size = previous.name, len(prefix)
            window = dataclasses.replace(window, events=np.concatenate([prefix, window.events]))
        out.append((window, source, size))
        previous = window
    return out


def _lineage(
    conversion: Conversion,
    window: Window,
    spec: IngestSpec,
    source: str | None,
    size: int,
    inputs: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "format": spec.raw_format,
        "inputs": inputs,
        "converter": conversion.converter,
        "hftbacktest_version": version("hftbacktest"),
        "symbol": conversion.symbol,
        "window": {
            "start_ns": window.start_ns,
            "end_ns": window.end_ns,
            "window_ns": spec.window_ns,
        },
        "snapshot": None if source is None else {"from_part": source, "events": size},
        "corrections": conversion.corrections,
        "n_events": len(window.events),
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, sort_keys=True, indent=1) + "\n")
    os.replace(tmp, path)


def _latency_of(conversion: Conversion, window: Window, spec: IngestSpec) -> np.ndarray | None:
    if spec.latency_file is None:
        return None
    try:
        return order_latency_from_events(window.events)
    except FeedLatencyError as exc:
        raise RawDataError(conversion.unit.files[-1], f"part {window.name}: {exc}") from None


def _parts_of(
    conversion: Conversion, spec: IngestSpec
) -> list[tuple[Window, dict[str, Any], np.ndarray | None]]:
    """The parts of one conversion, checked, with their lineage and order latency (nothing
    written yet)."""
    inputs = [{"file": p.name, "sha256": sha256_file(p)} for p in conversion.unit.files]
    built = []
    for window, source, size in _with_snapshots(
        cut_windows(conversion.events, conversion.symbol, spec.window_ns), spec
    ):
        try:
            check_events(Path(part_file_name(window.name)), window.events)
        except PartValidationError as exc:
            raise RawDataError(conversion.unit.files[-1], f"would make a bad {exc}") from None
        lineage = _lineage(conversion, window, spec, source, size, inputs)
        built.append((window, lineage, _latency_of(conversion, window, spec)))
    return built


def ingest_raw(paths: Sequence[Path], spec: IngestSpec, out_dir: Path) -> IngestReport:
    """Convert ``paths`` into parts in ``out_dir``; each raw file that fails is one error in the
    report, and the others still convert."""
    out_dir = Path(out_dir)
    units, errors = group_raw_files(spec.raw_format, paths)
    report = IngestReport(errors=list(errors))
    written: dict[str, Path] = {}
    for unit in units:
        try:
            parts = _parts_of(convert_unit(unit), spec)
            for window, _, _ in parts:
                if window.name in written:
                    raise RawDataError(
                        unit.files[-1],
                        f"part {window.name} is also made from {written[window.name]}",
                    )
        except RawDataError as exc:
            report.errors.append(exc)
            continue
        (out_dir / LINEAGE_DIR).mkdir(parents=True, exist_ok=True)
        for window, lineage, latency in parts:
            path = out_dir / part_file_name(window.name)
            write_npz_deterministic(path, {"data": window.events})
            if latency is not None:
                assert spec.latency_file is not None
                (out_dir / LATENCY_DIR).mkdir(exist_ok=True)
                name = latency_file_name(spec.latency_file, window.name)
                write_npz_deterministic(out_dir / LATENCY_DIR / name, {"data": latency})
            lineage = {"part": window.name, "part_sha256": sha256_file(path), **lineage}
            _write_json(out_dir / LINEAGE_DIR / f"{window.name}.json", lineage)
            written[window.name] = unit.files[-1]
            report.parts.append(IngestedPart(path, lineage))
    return report
