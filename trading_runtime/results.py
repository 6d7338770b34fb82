"""A backtest result and its hashes: what a result holds, and what determines it.

A result is a directory (``layout``'s result files) plus what ``result.json`` holds: metrics and
provenance. Provenance records every input that determines the result (``RESULT_INPUTS``), each
file's sha256 (``files``: the raw bytes, checked by readers), and the content hash. A result's
chart (``charts``: its sha256 by name, checked by readers too) is a view drawn from the curve: it
is stored in the same version but stays out of the content hash.

The content hash is taken over a *canonical form* of the files, because hftbacktest 2.4.4 is not
bit-exact: its exchange keeps resting orders in a randomly seeded hash map, so two orders filled
by one event are applied in random order and the running sums (balance, fee, position, volume,
value) may differ in the last bits between runs. The canonical form of the state record (in
``stats.npz`` and ``curve.parquet``) rounds every such column to its instrument grid
(``canonical_steps``: half a tick for the mid price, the lot for quantities, tick x lot x contract
size for money, and the fee rates' common divisor times one fill's fee unit for fees), on which
its true value lies; ``equity`` is derived from those columns and left out. Other files are
hashed as bytes. Equal content hashes therefore mean: same timestamps, trade counts and record
length, and every money or quantity column equal on its grid; the raw files may differ by a few
ulp.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

import trading_runtime
from trading_runtime.adapters import get_adapter
from trading_runtime.config import (
    LATENCY_DIR,
    PART_PLACEHOLDER,
    BacktestConfig,
    EngineSection,
    InterpolatedLatency,
)
from trading_runtime.config.strategy_modules import find_module_source, strategy_refusal
from trading_runtime.data.validate import sha256_file
from trading_runtime.layout import CHART_FILE, CURVE_FILE, RESULT_FILE, STATS_FILE, VERSIONS_DIR

__all__ = [
    "CODE_INPUTS",
    "NOT_CONTENT_FILES",
    "RESULT_INPUTS",
    "RUNTIME_GIT_COMMIT_ENV",
    "BacktestResult",
    "ResultIntegrityError",
    "canonical_file_hashes",
    "canonical_record",
    "canonical_record_digest",
    "canonical_steps",
    "canonical_unsafe_columns",
    "code_inputs",
    "content_hash",
    "file_hashes",
    "latency_files_hash",
    "read_whole",
    "result_code_version",
    "result_version",
    "runtime_git_commit",
    "strategy_source_hash",
]

# What determines a result besides its part, as provenance fields. Dagster's code version of
# ``backtest_results`` hashes them, the aggregate shows them per part, and the determinism check
# expects identical content when they and the part are unchanged.
CODE_INPUTS = (
    "config_hash",
    "engine",
    "engine_version",
    "framework_sha",
    "runtime_version",
    "strategy_source_hash",
)
# ``inputs_sha256`` covers every input file (warm-up parts and the scored part, in order).
RESULT_INPUTS = ("part_sha256", "inputs_sha256", "latency_sha256", *CODE_INPUTS)
# Set in the runtime image (build arg GIT_COMMIT); unset in a development checkout.
RUNTIME_GIT_COMMIT_ENV = "TRADING_RUNTIME_GIT_COMMIT"


@dataclass(frozen=True)
class BacktestResult:
    """One part's result: files in ``directory`` plus what ``result.json`` holds.

    ``directory`` is a local ``Path`` right after a run, or a ``UPath`` (any filesystem) when the
    IO manager loads a stored result; the curve is read only on demand.
    """

    partition: str
    directory: Path | UPath
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    # The worker's time: the backtest (on the timeout's clock) and its start-up before it
    # (validation, compilation); neither is part of the result's content.
    wall_time_s: float = field(default=0.0, compare=False)
    startup_s: float = field(default=0.0, compare=False)

    @property
    def content_hash(self) -> str:
        return str(self.provenance["content_hash"])

    def files(self) -> list[Path | UPath]:
        return sorted(p for p in self.directory.iterdir() if p.is_file())

    def listed_files(self) -> dict[str, str]:
        """sha256 by name of every file ``result.json`` lists: the result's files and its charts."""
        return {**self.provenance.get("charts", {}), **self.provenance.get("files", {})}

    @property
    def chart_path(self) -> Path | UPath | None:
        """The result's chart (``chart.png``), None for a result stored without one."""
        charts = self.provenance.get("charts", {})
        return self.directory / CHART_FILE if CHART_FILE in charts else None

    def read_verified(self, name: str) -> bytes:
        """A result file's bytes, checked against the sha256 that ``result.json`` lists."""
        data = read_whole(self.directory / name)
        expected = self.listed_files().get(name)
        actual = hashlib.sha256(data).hexdigest()
        if expected is not None and actual != expected:
            raise ResultIntegrityError(
                f"result {self.partition}: {self.directory / name} has sha256 {actual}, but"
                f" result.json lists {expected}; the stored result is damaged"
            )
        return data

    def verify(self) -> None:
        """Every file ``result.json`` lists (chart included) is present with its sha256."""
        for name in sorted(self.listed_files()):
            try:
                self.read_verified(name)
            except FileNotFoundError:
                raise ResultIntegrityError(
                    f"result {self.partition}: {self.directory / name} is missing"
                ) from None

    def local_directory(self) -> Path:
        """The run's local output directory (what gets published to storage)."""
        if not isinstance(self.directory, Path):
            raise TypeError(f"result {self.partition} is already stored at {self.directory}")
        return self.directory

    def read_curve(self) -> pa.Table:
        return pq.read_table(io.BytesIO(self.read_verified(CURVE_FILE)))

    def read_chart(self) -> bytes | None:
        """The chart's PNG bytes (verified), None for a result stored without a chart."""
        return self.read_verified(CHART_FILE) if self.chart_path is not None else None

    @classmethod
    def load(cls, directory: Path | UPath) -> BacktestResult:
        """A stored result from its partition's directory: follows ``result.json`` (the pointer
        to the current version) and reads nothing else."""
        document = json.loads(read_whole(directory / RESULT_FILE))
        version = document.get("version")
        # Without a version: a result stored before versions existed, files beside result.json.
        files = directory / VERSIONS_DIR / version if version else directory
        return cls(
            partition=directory.name,
            directory=files,
            metrics=document["metrics"],
            provenance=document["provenance"],
        )


def read_whole(path: Path | UPath) -> bytes:
    """A file's bytes in one read: on an object store one GET, which sees either the old or the
    new object (a ranged read can fail when a writer replaces it in between)."""
    if isinstance(path, UPath) and path.protocol not in ("", "file", "local"):
        return bytes(path.fs.cat_file(path.path))
    return path.read_bytes()


class ResultIntegrityError(RuntimeError):
    """A stored result's files do not match the hashes its ``result.json`` lists."""


def strategy_source_hash(class_path: str) -> str:
    """sha256 of the strategy module's source file, found without importing it or its parent
    packages (``strategy_modules.find_module_source``): this runs in the Dagster process, which
    never imports strategy code. ``unresolved`` when the file cannot be found."""
    refusal = strategy_refusal(class_path)
    if refusal:
        raise ValueError(f"strategy.class_path {refusal}")
    source = find_module_source(class_path.partition(":")[0])
    return sha256_file(source) if source is not None else "unresolved"


def runtime_git_commit() -> str | None:
    return os.environ.get(RUNTIME_GIT_COMMIT_ENV) or None


def code_inputs(
    config: BacktestConfig, engine: str, engine_version: str, framework_sha: str | None
) -> dict[str, Any]:
    """``CODE_INPUTS`` for a config run by the named engine, in this process."""
    return {
        "config_hash": config.config_hash(),
        "engine": engine,
        "engine_version": engine_version,
        "framework_sha": framework_sha,
        "runtime_version": trading_runtime.__version__,
        "strategy_source_hash": strategy_source_hash(config.strategy.class_path),
    }


# How each code input is spelled in the code version's hash: its labels and order are fixed, so
# stored results keep their code version (Dagster would mark them all stale on any change).
_CODE_VERSION_LABELS = {
    "runtime_version": "runtime",
    "engine": "engine",
    "engine_version": "engine_version",
    "framework_sha": "framework_sha",
    "strategy_source_hash": "strategy",
    "config_hash": "config",
}


def latency_files_hash(config: BacktestConfig, parts_dir: str | Path | None) -> str | None:
    """One hash over the order-latency files ``engine.latency`` may read in a local parts
    directory: the named file, or every file its ``{part}`` pattern matches (a change to one
    part's file then marks every result stale: more than needed, never less). None when the
    config reads no latency file or the parts directory is not local."""
    latency = config.engine.latency
    if not isinstance(latency, InterpolatedLatency) or parts_dir is None:
        return None
    directory = Path(str(parts_dir)) / LATENCY_DIR
    if "://" in str(parts_dir) or not directory.is_dir():
        return None
    pattern = re.compile(
        re.escape(latency.file).replace(re.escape(PART_PLACEHOLDER), r"[A-Za-z0-9_.-]+")
    )
    found = sorted(p for p in directory.iterdir() if p.is_file() and pattern.fullmatch(p.name))
    return _hash_pairs({p.name: sha256_file(p) for p in found})


def result_code_version(config: BacktestConfig, parts_dir: str | Path | None = None) -> str:
    """A short hash of ``CODE_INPUTS`` and, for interpolated latency, of the latency files in
    ``parts_dir`` (``latency_files_hash``): Dagster marks results stale when it changes."""
    adapter = get_adapter(config.adapter)
    inputs = code_inputs(config, adapter.name, adapter.version(), adapter.framework_sha())
    pieces = [f"{label}={inputs[name]}" for name, label in _CODE_VERSION_LABELS.items()]
    latency = latency_files_hash(config, parts_dir)
    if latency is not None:  # absent otherwise: other configs keep their code version
        pieces.append(f"latency={latency}")
    return hashlib.sha256("|".join(pieces).encode()).hexdigest()[:16]


# Files of a result directory that are not its content: ``result.json`` (metrics and provenance,
# which hold the hashes) and the chart (a view of the curve).
NOT_CONTENT_FILES = (RESULT_FILE, CHART_FILE)


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every result file but ``result.json`` and the chart, by name: the files whose
    content the content hash covers."""
    return {
        p.name: sha256_file(p)
        for p in sorted(directory.iterdir())
        if p.name not in NOT_CONTENT_FILES
    }


def _hash_pairs(hashes: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode())
    return digest.hexdigest()


# The content hash's entry for a warm-up's inputs (no result file has this name).
WARMUP_INPUTS_ENTRY = "<warmup inputs>"


def content_hash(canonical_hashes: dict[str, str], warmup_inputs: str | None = None) -> str:
    """Hash of the result's content: every file's name and canonical hash, in name order; with a
    warm-up, also the digest of the inputs (``warmup.inputs_digest``)."""
    if warmup_inputs is None:
        return _hash_pairs(canonical_hashes)
    return _hash_pairs({**canonical_hashes, WARMUP_INPUTS_ENTRY: warmup_inputs})


def result_version(hashes: dict[str, str]) -> str:
    """The stored version's name: a short hash of the raw file hashes (content-addressed, so
    writers of identical bytes share one version)."""
    return _hash_pairs(hashes)[:16]


def _decimal(value: float) -> Fraction:
    """The decimal a config number was written as (0.1 -> 1/10, not the binary double)."""
    return Fraction(repr(float(value)))


def _fraction_gcd(a: Fraction, b: Fraction) -> Fraction:
    if a == 0 or b == 0:
        return a or b
    return Fraction(math.gcd(a.numerator * b.denominator, b.numerator * a.denominator)) / (
        a.denominator * b.denominator
    )


def canonical_steps(engine: EngineSection) -> dict[str, float]:
    """The grid each order-sensitive record column lies on, by column (see the module doc)."""
    tick, lot = _decimal(engine.tick_size), _decimal(engine.lot_size)
    money = tick * lot * _decimal(engine.contract_size)
    fees = engine.fee_model
    fee_rates = _fraction_gcd(abs(_decimal(fees.maker)), abs(_decimal(fees.taker)))
    # One fill's fee: rate x traded value (trading_value), x quantity (trading_qty), or flat.
    fee_unit = {"trading_value": money, "trading_qty": lot, "flat_per_trade": Fraction(1)}
    steps = {
        "price": tick / 2,  # the recorded price is the mid
        "position": lot,
        "balance": money,
        "fee": fee_unit[fees.type] * fee_rates if fee_rates else money,
        "trading_volume": lot,
        "trading_value": money,
    }
    return {name: float(step) for name, step in steps.items()}


def _grid_units(values: np.ndarray, step: float) -> np.ndarray:
    """Values as whole multiples of ``step`` (float64; NaN kept, -0 folded into 0)."""
    with np.errstate(invalid="ignore"):
        return np.rint(np.asarray(values, dtype=np.float64) / step) + 0.0


def canonical_record(record: np.ndarray, steps: dict[str, float]) -> np.ndarray:
    """A copy of a state record with every column in ``steps`` snapped to its grid: the values
    the engine meant, free of fill-order noise. Metrics are computed from it."""
    snapped = record.copy()
    for name, step in steps.items():
        if record.dtype.names and name in record.dtype.names:
            snapped[name] = _grid_units(record[name], step) * step + 0.0
    return snapped


def canonical_unsafe_columns(record: np.ndarray, steps: dict[str, float]) -> list[str]:
    """Columns whose grid is too fine for the canonical form to absorb the engine's float noise.

    A running sum over n fills carries at most about n ulp of its largest value; snapping to the
    grid removes that noise only while it stays under a quarter step. Where it does not (e.g. a
    fee grid of 1e-20 from an odd fee rate), the column is in effect hashed raw, and content hashes
    of runs with order-sensitive fills may differ. Recorded with every result."""
    if len(record) == 0:
        return []
    fills = int(record["num_trades"][-1]) + 1
    unsafe = []
    for name, step in steps.items():
        values = record[name][np.isfinite(record[name])]
        scale = float(np.max(np.abs(values))) if values.size else 0.0
        if fills * float(np.spacing(scale)) >= step / 4:
            unsafe.append(name)
    return unsafe


def canonical_record_digest(columns: dict[str, np.ndarray], steps: dict[str, float]) -> str:
    """sha256 of record columns, those in ``steps`` as whole multiples of their step (NaN kept,
    -0 folded into 0); ``equity`` (derived) is left out."""
    digest = hashlib.sha256()
    for name in sorted(columns):
        if name == "equity":
            continue
        values = np.asarray(columns[name])
        if name in steps:
            values = _grid_units(values, steps[name])
            values[np.isnan(values)] = np.nan  # one NaN bit pattern
        digest.update(f"{name}\0{values.dtype.str}\0{len(values)}\n".encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def canonical_file_hashes(
    hashes: dict[str, str], record: np.ndarray, steps: dict[str, float]
) -> dict[str, str]:
    """Per result file: sha256 of its bytes (``hashes``), except the two record files
    (``stats.npz`` and ``curve.parquet``, both written from ``record``), whose hash is the
    canonical digest of ``record``."""
    digest = canonical_record_digest({n: record[n] for n in record.dtype.names or ()}, steps)
    return {name: digest if name in (STATS_FILE, CURVE_FILE) else h for name, h in hashes.items()}
