"""Raw exchange files become parts by hftbacktest's own converters (issue 19, items 1, 3, 6, 7):
the same events as the converter called directly as its tutorial calls it, cut on a window with
the book carried over, deterministic bytes, and bad raw files failing alone, named."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hftbacktest.data.utils import binancefutures, bybit, tardis
from support.raw_files import (
    binance_lines,
    bybit_lines,
    write_gzip_lines,
    write_tardis,
)

from trading_runtime.cli import main
from trading_runtime.data.ingest.run import LINEAGE_DIR, IngestSpec, ingest_raw
from trading_runtime.data.validate import validate_part

HOUR_NS = 3600 * 10**9


def _events(path: Path) -> np.ndarray:
    with np.load(path) as archive:
        return archive["data"]


@pytest.fixture
def binance_raw(tmp_path: Path) -> Path:
    return write_gzip_lines(tmp_path / "raw" / "binancefutures" / "btcusdt.gz", binance_lines())


def test_each_format_equals_its_converter_called_directly(
    tmp_path: Path, binance_raw: Path
) -> None:
    """No window, no snapshot: the part's array is the converter's output, element for element."""
    bybit_raw = write_gzip_lines(tmp_path / "raw" / "bybit" / "btcusdt.gz", bybit_lines())
    trades, book = write_tardis(tmp_path / "raw" / "tardis")
    cases = [
        ("binancefutures", [binance_raw], lambda: binancefutures.convert(str(binance_raw))),
        ("bybit", [bybit_raw], lambda: bybit.convert_depth(str(bybit_raw))),
        ("tardis", [book, trades], lambda: tardis.convert([str(trades), str(book)])),
    ]
    for raw_format, paths, direct in cases:
        out = tmp_path / raw_format
        report = ingest_raw(paths, IngestSpec(raw_format), out)
        assert report.errors == [] and len(report.parts) == 1, raw_format
        part = report.parts[0]
        np.testing.assert_array_equal(_events(part.path), direct())
        validate_part(part.path)
        lineage = json.loads((out / LINEAGE_DIR / f"{part.path.stem}.json").read_text())
        assert lineage["hftbacktest_version"] == "2.4.4"
        assert lineage["snapshot"] is None and lineage["window"]["end_ns"] is None
        assert {item["file"] for item in lineage["inputs"]} == {p.name for p in paths}


def test_corrections_are_recorded(tmp_path: Path, binance_raw: Path) -> None:
    """The first message's local clock is 5 ms behind: the converter shifts every local_ts by
    5 ms and prints it; the lineage holds the number."""
    report = ingest_raw([binance_raw], IngestSpec("binancefutures"), tmp_path / "parts")
    corrections = report.parts[0].lineage["corrections"]
    assert corrections["latency_offset_ns"] == 5_000_000
    assert corrections["messages_by_kind"] == {"depthUpdate": 150, "trade": 150}


def test_windows_with_snapshots_concatenate_to_the_converter_output(
    tmp_path: Path, binance_raw: Path
) -> None:
    """Cut on 1 h, each part after the day's first starting from the previous part's book:
    dropping each part's snapshot prefix (``lineage.snapshot.events`` rows: per side a clear
    event and the levels), the parts' events concatenated are the converter's array."""
    spec = IngestSpec("binancefutures", HOUR_NS, snapshots=True, tick_size=0.1, lot_size=0.001)
    report = ingest_raw([binance_raw], spec, tmp_path / "parts")
    names = [part.path.stem for part in report.parts]
    assert names == ["BTCUSDT-20240102-0000", "BTCUSDT-20240102-0100", "BTCUSDT-20240102-0200"]
    feed = []
    for i, part in enumerate(report.parts):
        snapshot = part.lineage["snapshot"]
        if i == 0:
            assert snapshot is None
            skip = 0
        else:
            assert snapshot["from_part"] == names[i - 1] and snapshot["events"] > 0
            skip = snapshot["events"]
            prefix = _events(part.path)[:skip]
            assert (prefix["ev"] & 0xFF == 3).sum() == 2  # a clear event per side
        feed.append(_events(part.path)[skip:])
        validate_part(part.path)
    np.testing.assert_array_equal(np.concatenate(feed), binancefutures.convert(str(binance_raw)))


_SCRIPT = """
import sys
from pathlib import Path
from trading_runtime.data.ingest.run import IngestSpec, ingest_raw
spec = IngestSpec("binancefutures", 3600 * 10**9, snapshots=True, tick_size=0.1, lot_size=0.001)
ingest_raw([Path(sys.argv[1])], spec, Path(sys.argv[2]))
"""


def test_conversion_is_deterministic_across_processes(tmp_path: Path, binance_raw: Path) -> None:
    """Same raw bytes, same part bytes, in two fresh processes (no zip timestamps)."""
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        subprocess.run([sys.executable, "-c", _SCRIPT, str(binance_raw), str(out)], check=True)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert len(files) == 6
    for name in files:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name


def _bad_raw(kind: str, tmp_path: Path) -> tuple[list[Path], str]:
    raw = tmp_path / "raw"
    lines = binance_lines(minutes=10)
    if kind == "truncated gzip":
        path = write_gzip_lines(raw / "t.gz", lines)
        path.write_bytes(path.read_bytes()[:-40])
        return [path], f"raw file {path}:"
    if kind == "malformed JSON":
        lines[3] = lines[3][:-10] + "\n"
        path = write_gzip_lines(raw / "m.gz", lines)
        return [path], f"raw file {path}:4: malformed JSON"
    if kind == "unknown stream":
        lines[1] = lines[1].replace('"e":"trade"', '"e":"aggTrade"')  # line 2: a trade
        path = write_gzip_lines(raw / "u.gz", lines)
        return [path], f"raw file {path}:2: unknown stream event 'aggTrade'"
    if kind == "spot":
        lines[0] = lines[0].replace('"T":', '"X":')
        path = write_gzip_lines(raw / "s.gz", lines)
        return [path], f"raw file {path}:1: a depth update without 'T'"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated gzip", "malformed JSON", "unknown stream", "spot"])
def test_a_bad_feed_fails_alone_named_and_stored_parts_stay(
    kind: str, tmp_path: Path, binance_raw: Path
) -> None:
    out = tmp_path / "parts"
    stored = ingest_raw([binance_raw], IngestSpec("binancefutures"), out).parts[0].path
    before = stored.read_bytes()
    bad, expected = _bad_raw(kind, tmp_path)
    good = write_gzip_lines(tmp_path / "raw" / "other.gz", binance_lines(minutes=5))
    report = ingest_raw([*bad, good], IngestSpec("binancefutures"), tmp_path / "new")
    assert [str(e) for e in report.errors] == [report.errors[0].args[0]]
    message = str(report.errors[0])
    assert message.startswith(expected) and "\n" not in message, message
    assert [p.path.name for p in report.parts] == ["BTCUSDT-20240102-0000.npz"]
    assert stored.read_bytes() == before


def test_bad_tardis_files_fail_alone(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    good = write_tardis(raw, symbol="ETHUSDT")
    (lonely,) = write_tardis(raw, symbol="SOLUSDT", book=False)
    trades, book = write_tardis(raw, symbol="BTCUSDT")
    with gzip.open(book, "rt") as handle:
        rows = handle.read().splitlines()
    rows[0] = rows[0].replace(",is_snapshot", "")
    write_gzip_lines(book, [row + "\n" for row in rows])
    report = ingest_raw([*good, lonely, trades, book], IngestSpec("tardis"), tmp_path / "parts")
    messages = sorted(str(e) for e in report.errors)
    assert messages == sorted(
        [
            f"raw file {book}:1: missing columns ['is_snapshot'] (expected ['exchange',"
            " 'symbol', 'timestamp', 'local_timestamp', 'is_snapshot', 'side', 'price',"
            " 'amount'])",
            f"raw file {lonely}: trades without their book: no incremental_book_L2 file for"
            " SOLUSDT on 2024-01-02 (binance-futures)",
        ]
    )
    assert [p.path.name for p in report.parts] == ["ETHUSDT-20240102-0000.npz"]


def test_cli_ingest(tmp_path: Path, binance_raw: Path) -> None:
    out = tmp_path / "parts"
    args = ["data", "ingest", str(binance_raw), "--format", "binancefutures", "--out", str(out)]
    result = CliRunner().invoke(
        main, [*args, "--window", "1h", "--snapshots", "--tick-size", "0.1", "--lot-size", "0.001"]
    )
    assert result.exit_code == 0, result.output
    assert "book from BTCUSDT-20240102-0000" in result.output
    assert len(list(out.glob("*.npz"))) == 3
    result = CliRunner().invoke(main, [*args, "--snapshots"])
    assert result.exit_code == 2 and "tick_size and lot_size" in result.output
