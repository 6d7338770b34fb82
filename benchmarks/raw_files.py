"""Raw exchange files in each format hftbacktest's converters read (the formats in the converters'
docstrings and source: ``binancefutures.convert``, ``bybit.convert_depth``, ``tardis.convert``):
small ones for the tests (``tests/support/raw_files.py`` re-exports them), any length for the
conversion benchmark (``write_raw``). Here rather than in tests/ so that ``benchmarks`` imports
no test code."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

# 2024-01-02 00:00 UTC, ns.
DAY_START_NS = 1_704_153_600_000_000_000
MS = 1_000_000
SECOND_NS = 1_000_000_000


def _line(local_ns: int, message: dict) -> str:
    return f"{local_ns} {json.dumps(message, separators=(',', ':'))}\n"


def binance_lines(minutes: int = 150, step_s: int = 60) -> list[str]:
    """A Binance USD-M futures feed (combined streams): a book around 60,000 with resting depth
    far away, a depth update and a trade each ``step_s``; 20 ms feed latency, the first message's
    local clock 5 ms behind the exchange's (the converter corrects it)."""
    lines = []
    for i, t in enumerate(range(0, minutes * 60, step_s)):
        exch_ms = (DAY_START_NS // MS) + t * 1000 + 10
        mid = 60_000 + (i % 7) * 0.5
        depth = {
            "e": "depthUpdate",
            "E": exch_ms + 1,
            "T": exch_ms,
            "s": "BTCUSDT",
            "U": i * 10,
            "u": i * 10 + 9,
            "pu": i * 10 - 1,
            "b": [[f"{mid - 0.5:.1f}", "1.000"], [f"{mid - 1:.1f}", "2.000"], ["560.0", "0.5"]],
            "a": [[f"{mid + 0.5:.1f}", "1.000"], [f"{mid + 1:.1f}", "2.000"], ["621369.0", "0.5"]],
        }
        latency = -5 * MS if i == 0 else 20 * MS
        lines.append(_line(exch_ms * MS + latency, {"stream": "btcusdt@depth@0ms", "data": depth}))
        trade = {
            "e": "trade",
            "E": exch_ms + 6,
            "T": exch_ms + 5,
            "s": "BTCUSDT",
            "t": i,
            "p": f"{mid + 0.5:.1f}",
            "q": "0.010",
            "X": "MARKET",
            "m": bool(i % 2),
        }
        lines.append(
            _line((exch_ms + 5) * MS + 20 * MS, {"stream": "btcusdt@trade", "data": trade})
        )
    return lines


def write_gzip_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.writelines(lines)
    return path


def bybit_lines(count: int = 40) -> list[str]:
    """A Bybit linear feed: a 50-level book snapshot, then deltas and trades each second."""
    lines = []
    start_ms = DAY_START_NS // MS
    book = {
        "s": "BTCUSDT",
        "b": [["59999.9", "1.0"], ["59999.0", "2.0"], ["560.0", "0.5"]],
        "a": [["60000.1", "1.0"], ["60001.0", "2.0"]],
        "u": 1,
        "seq": 1,
    }
    lines.append(
        _line(
            start_ms * MS + 20 * MS,
            {
                "topic": "orderbook.50.BTCUSDT",
                "type": "snapshot",
                "ts": start_ms,
                "data": book,
                "cts": start_ms,
            },
        )
    )
    for i in range(1, count):
        ts = start_ms + i * 1000
        delta = {
            "s": "BTCUSDT",
            "b": [["59999.9", f"{1 + i % 3}.0"]],
            "a": [["60000.1", "0"], ["60000.2", "1.5"]],
            "u": i + 1,
            "seq": i + 1,
        }
        lines.append(
            _line(
                ts * MS + 20 * MS,
                {
                    "topic": "orderbook.50.BTCUSDT",
                    "type": "delta",
                    "ts": ts,
                    "data": delta,
                    "cts": ts,
                },
            )
        )
        trade = [
            {
                "T": ts + 3,
                "s": "BTCUSDT",
                "S": "Buy" if i % 2 else "Sell",
                "v": "0.010",
                "p": "60000.1",
                "L": "ZeroPlusTick",
                "i": f"id-{i}",
                "BT": False,
            }
        ]
        lines.append(
            _line(
                (ts + 4) * MS + 20 * MS,
                {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": ts + 4, "data": trade},
            )
        )
    return lines


def write_tardis(
    directory: Path,
    symbol: str = "BTCUSDT",
    day: str = "2024-01-02",
    trades: bool = True,
    book: bool = True,
    seconds: int = 30,
) -> list[Path]:
    """Tardis CSVs for one symbol-day, named as Tardis names them: a start-of-day snapshot and
    updates in the book file, trades in the trades file (timestamps in microseconds), one trade
    and two book updates each second."""
    directory.mkdir(parents=True, exist_ok=True)
    start_us = DAY_START_NS // 1000
    written = []
    if trades:
        path = directory / f"binance-futures_trades_{day}_{symbol}.csv.gz"
        rows = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
        for i in range(1, seconds):
            ts = start_us + i * 1_000_000 + 500
            side = "buy" if i % 2 else "sell"
            rows.append(f"binance-futures,{symbol},{ts},{ts + 20_000},{i},{side},60000.1,0.01")
        write_gzip_lines(path, [row + "\n" for row in rows])
        written.append(path)
    if book:
        path = directory / f"binance-futures_incremental_book_L2_{day}_{symbol}.csv.gz"
        rows = ["exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"]
        for side, price in (
            ("bid", "59999.9"),
            ("bid", "560.0"),
            ("ask", "60000.1"),
            ("ask", "621369.0"),
        ):
            rows.append(
                f"binance-futures,{symbol},{start_us},{start_us + 20_000},true,{side},{price},1.0"
            )
        for i in range(1, seconds):
            ts = start_us + i * 1_000_000
            rows.append(
                f"binance-futures,{symbol},{ts},{ts + 20_000},false,bid,59999.9,{1 + i % 3}.0"
            )
            rows.append(f"binance-futures,{symbol},{ts},{ts + 20_000},false,ask,60000.2,1.5")
        write_gzip_lines(path, [row + "\n" for row in rows])
        written.append(path)
    return written


def write_raw(raw_format: str, directory: Path, lines: int) -> tuple[list[Path], int]:
    """About ``lines`` raw lines (at least the smallest file each generator makes) in
    ``directory``: the files, and how many lines they hold (CSV headers included)."""
    if raw_format == "tardis":
        paths = write_tardis(directory, seconds=max(2, lines // 3 + 1))
    else:
        if raw_format == "binancefutures":  # two messages a second
            body = binance_lines(minutes=max(1, -(-lines // 120)), step_s=1)
        elif raw_format == "bybit":  # a snapshot, then two messages a second
            body = bybit_lines(count=max(2, lines // 2))
        else:
            raise ValueError(f"no generator for raw format {raw_format!r}")
        paths = [write_gzip_lines(directory / f"btcusdt_{raw_format}.gz", body)]
    count = 0
    for path in paths:
        with gzip.open(path, "rb") as handle:
            count += sum(1 for _ in handle)
    return paths, count
