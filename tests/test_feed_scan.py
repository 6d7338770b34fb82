"""The feed check a block at a time (``feed_scan``) counts and fails exactly as the per-line
check it replaces: same counts, same errors on the same line numbers, whichever block the line
falls in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from support.raw_files import binance_lines, bybit_lines, write_gzip_lines

from trading_runtime.data.ingest import feed_scan, feeds
from trading_runtime.data.ingest.errors import RawDataError


def _per_line(path: Path, check: str) -> dict[str, int]:
    """The check as it was: every line through the per-line function."""
    seen: Counter[str] = Counter()
    for number, line in feeds.feed_lines(path):
        if check == "binancefutures":
            feeds._binance_line(path, number, line, seen)
        else:
            feeds._bybit_line(path, number, line, seen, 50)
    return dict(seen)


def _check(path: Path, check: str) -> dict[str, int]:
    if check == "binancefutures":
        return feeds.check_binancefutures(path)
    return feeds.check_bybit(path, 50)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_scan, "_BLOCK", 4096)  # many blocks, lines cut across reads


def _mixed_binance() -> list[str]:
    lines = binance_lines(minutes=60)
    lines[5] = lines[5].replace('"X":"MARKET"', '"X":"LIMIT"')
    lines[7] = lines[7].replace('"e":"trade"', '"e":"markPriceUpdate"')
    lines[40] = '1704153600000000000 {"lastUpdateId":1,"bids":[],"asks":[]}\n'
    lines[60] = '1704153600000000000 {"result":null,"id":1}\n'
    return lines


def test_counts_equal_the_per_line_check(tmp_path: Path) -> None:
    binance = write_gzip_lines(tmp_path / "b.gz", _mixed_binance())
    assert _check(binance, "binancefutures") == _per_line(binance, "binancefutures")
    assert _check(binance, "binancefutures")["trade not MARKET (dropped)"] == 1
    lines = bybit_lines(count=300)
    lines[3] = lines[3].replace("orderbook.50.", "orderbook.200.")
    lines[9] = '1704153600000000000 {"success":true,"op":"subscribe"}\n'
    bybit = write_gzip_lines(tmp_path / "y.gz", lines)
    assert _check(bybit, "bybit") == _per_line(bybit, "bybit")
    plain = write_gzip_lines(tmp_path / "p.gz", binance_lines(minutes=60))
    assert _check(plain, "binancefutures") == _per_line(plain, "binancefutures")


@pytest.mark.parametrize("row", [0, 33, 110])
def test_errors_name_the_same_line(tmp_path: Path, row: int) -> None:
    for change, check in (
        (lambda s: s.replace('"T":', '"Q":'), "binancefutures"),  # depth update: a spot feed
        (lambda s: s.replace('"e":"', '"e":"agg'), "binancefutures"),
        (lambda s: "12345 " + s, "binancefutures"),
        (lambda s: s.replace("orderbook.50.", "kline."), "bybit"),
    ):
        lines = binance_lines(minutes=60) if check == "binancefutures" else bybit_lines(200)
        row_at = row - row % 2 if check == "binancefutures" else row | 1  # a depth line
        lines[row_at] = change(lines[row_at])
        path = write_gzip_lines(tmp_path / f"{check}.gz", lines)
        with pytest.raises(RawDataError) as per_line:
            _per_line(path, check)
        with pytest.raises(RawDataError) as blocks:
            _check(path, check)
        assert str(blocks.value) == str(per_line.value)
        assert f":{row_at + 1}:" in str(blocks.value)


def test_a_damaged_gzip_is_named_as_before(tmp_path: Path) -> None:
    path = write_gzip_lines(tmp_path / "t.gz", binance_lines(minutes=60))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(RawDataError) as per_line:
        _per_line(path, "binancefutures")
    with pytest.raises(RawDataError) as blocks:
        feeds.check_binancefutures(path)
    assert str(blocks.value) == str(per_line.value)


def test_lines_the_probes_miss_are_searched_in_the_block(tmp_path: Path) -> None:
    """Where Binance puts 'T' and 'X' is looked at first; a line that has them elsewhere is
    searched, still in the block check (not handed to the per-line check), with equal counts."""
    lines = binance_lines(minutes=60)
    lines[0] = lines[0].replace('"E":', '"E":1')  # a 14-digit 'E': 'T' further on
    lines[2] = lines[2].replace('"T":', '"Q":')[:-3] + ',"T":1}}\n'  # 'T' at the end
    lines[3] = lines[3].replace('"X":"MARKET","m":true', '"m":true,"X":"MARKET"')
    lines[5] = lines[5].replace('"X":"MARKET"', '"X":"LIMIT"')
    lines[7] = lines[7].replace('"e":"trade"', '"e":"bookTicker"')
    path = write_gzip_lines(tmp_path / "b.gz", lines)
    block = next(iter(feed_scan.blocks(path)))  # the first 4 kB, rows 0-7 among them
    counted = feeds._binance_block(block)
    assert counted is not None and counted["trade not MARKET (dropped)"] == 1
    assert counted["bookTicker (skipped)"] == 1
    assert feeds.check_binancefutures(path) == _per_line(path, "binancefutures")


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.replace('"e":"depthUpdate"', '"e":"depthUpdate","e":"trade"'),
        lambda s: s.replace('"e":"', '"x":"e":"trade","e":"'),
        lambda s: s.replace('"e":"trade"', '"e":"tradeX"'),
        lambda s: s.replace('"e":"depthUpdate"', '"e":"depth"'),
        lambda s: s.replace('"e":"', '"e":""'),
    ],
    ids=["two_events", "event_twice", "longer_name", "shorter_name", "empty_name"],
)
def test_a_line_the_block_check_cannot_read_alone_goes_to_the_per_line_check(
    tmp_path: Path, change: Callable[[str], str]
) -> None:
    lines = binance_lines(minutes=60)
    for row in (4, 5):  # a depth update and a trade
        lines[row] = change(lines[row])
    path = write_gzip_lines(tmp_path / "b.gz", lines)
    assert feeds._binance_block(next(iter(feed_scan.blocks(path)))) is None
    try:
        expected: object = _per_line(path, "binancefutures")
    except RawDataError as exc:
        expected = str(exc)
    try:
        found: object = feeds.check_binancefutures(path)
    except RawDataError as exc:
        found = str(exc)
    assert found == expected
