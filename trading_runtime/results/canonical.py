"""The canonical form of a result's files and its content hash.

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
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from trading_runtime.config import EngineSection
from trading_runtime.data.part_info import sha256_file
from trading_runtime.layout import CHART_FILE, CURVE_FILE, RESULT_FILE, STATS_FILE

__all__ = [
    "NOT_CONTENT_FILES",
    "WARMUP_INPUTS_ENTRY",
    "canonical_file_hashes",
    "canonical_record",
    "canonical_record_digest",
    "canonical_steps",
    "canonical_unsafe_columns",
    "content_hash",
    "file_hashes",
    "hash_pairs",
    "result_version",
]


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


def hash_pairs(hashes: dict[str, str]) -> str:
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
        return hash_pairs(canonical_hashes)
    return hash_pairs({**canonical_hashes, WARMUP_INPUTS_ENTRY: warmup_inputs})


def result_version(hashes: dict[str, str]) -> str:
    """The stored version's name: a short hash of the raw file hashes (content-addressed, so
    writers of identical bytes share one version)."""
    return hash_pairs(hashes)[:16]


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
