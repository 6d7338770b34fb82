"""Tardis.dev CSV files: ``trades`` and ``incremental_book_L2``, paired by exchange, symbol and
day from Tardis's file names (``<exchange>_<data type>_<yyyy-mm-dd>_<symbol>.csv[.gz]``), and
converted together by hftbacktest's ``tardis.convert`` (trades first, as its docstring asks).
This module checks the names and headers first and, when the converter fails, finds the line."""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from trading_runtime.data.ingest.errors import RawDataError

__all__ = [
    "TardisPair",
    "check_tardis_header",
    "diagnose_tardis",
    "pair_tardis_files",
    "tardis_symbol_day",
]

_NAME = re.compile(
    r"^(?P<exchange>[^_]+)_(?P<kind>trades|incremental_book_L2)_"
    r"(?P<day>\d{4}-\d{2}-\d{2})_(?P<symbol>[A-Za-z0-9._-]+)\.csv(?:\.gz)?$"
)


def tardis_symbol_day(name: str) -> str | None:
    """``<exchange>_<symbol>_<yyyy-mm-dd>`` of a Tardis file name (what its pair shares); None
    for a name Tardis does not write."""
    match = _NAME.match(name)
    return None if match is None else f"{match['exchange']}_{match['symbol']}_{match['day']}"


@dataclass(frozen=True)
class TardisPair:
    """One symbol-day: its trades file (None when there is none) and its book file."""

    exchange: str
    symbol: str
    day: str
    trades: Path | None
    book: Path

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.trades, self.book) if self.trades is not None else (self.book,)


def pair_tardis_files(paths: Sequence[Path]) -> tuple[list[TardisPair], list[RawDataError]]:
    """Pairs by (exchange, symbol, day); a file with another name, a second file of one kind,
    or trades without their book fail, each alone."""
    found: dict[tuple[str, str, str], dict[str, Path]] = {}
    errors: list[RawDataError] = []
    for path in paths:
        match = _NAME.match(path.name)
        if match is None:
            errors.append(
                RawDataError(
                    path,
                    "not a Tardis file name (<exchange>_trades|incremental_book_L2_<yyyy-mm-dd>"
                    "_<symbol>.csv[.gz])",
                )
            )
            continue
        key = (match["exchange"], match["symbol"], match["day"])
        kinds = found.setdefault(key, {})
        if match["kind"] in kinds:
            errors.append(RawDataError(path, f"a second {match['kind']} file for {key}"))
            continue
        kinds[match["kind"]] = path
    pairs = []
    for (exchange, symbol, day), kinds in sorted(found.items()):
        if "incremental_book_L2" not in kinds:
            errors.append(
                RawDataError(
                    kinds["trades"],
                    f"trades without their book: no incremental_book_L2 file for {symbol} on"
                    f" {day} ({exchange})",
                )
            )
            continue
        book = kinds["incremental_book_L2"]
        pairs.append(TardisPair(exchange, symbol, day, kinds.get("trades"), book))
    return pairs, errors


def _text_lines(path: Path) -> Iterator[str]:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", newline="") as handle:
                yield from handle
        else:
            with open(path, newline="") as handle:
                yield from handle
    except (EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
        raise RawDataError(path, f"truncated or damaged file ({exc})") from None


def _converter_columns(kind: str) -> list[str]:
    """The columns hftbacktest's Tardis converter reads, in its order. Imported here, on a
    Tardis file's first check: hftbacktest loads numba, which listing raw files never needs."""
    from hftbacktest.data.utils import tardis

    schema = tardis.trade_schema if kind == "trades" else tardis.depth_schema
    return list(schema)


def check_tardis_header(path: Path, kind: str) -> None:
    """The header holds the converter's columns, in its order."""
    header = next(csv.reader(io.StringIO(next(_text_lines(path), ""))), [])
    expected = _converter_columns(kind)
    missing = [column for column in expected if column not in header]
    if missing:
        raise RawDataError(path, f"missing columns {missing} (expected {expected})", 1)
    if header != expected:
        raise RawDataError(path, f"columns {header}, expected {expected} in this order", 1)


def diagnose_tardis(path: Path, kind: str, error: Exception) -> RawDataError:
    """The first row with the wrong number of fields or a timestamp that is no integer; else
    the converter's own error."""
    width = len(_converter_columns(kind))
    number = 1
    try:
        for number, row in enumerate(csv.reader(_text_lines(path)), start=1):
            if number == 1:
                continue
            if len(row) != width:
                return RawDataError(path, f"{len(row)} fields, expected {width}", number)
            if not (row[2].isdigit() and row[3].isdigit()):
                return RawDataError(path, "timestamp or local_timestamp is not an integer", number)
    except RawDataError as exc:
        return RawDataError(path, str(exc).split(": ", 1)[1], number + 1)
    detail = " ".join(str(error).split()) or type(error).__name__
    return RawDataError(path, f"the converter failed: {type(error).__name__}: {detail}")
