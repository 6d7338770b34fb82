"""The raw exchange files the tests write: the generators live in ``benchmarks.raw_files``, which
the conversion benchmark shares."""

from benchmarks.raw_files import (
    DAY_START_NS,
    MS,
    SECOND_NS,
    binance_lines,
    bybit_lines,
    write_gzip_lines,
    write_tardis,
)

__all__ = [
    "DAY_START_NS",
    "MS",
    "SECOND_NS",
    "binance_lines",
    "bybit_lines",
    "write_gzip_lines",
    "write_tardis",
]
