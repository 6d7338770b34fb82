"""Raw websocket feeds as hftbacktest's connector records them: gzip, one ``<local_ts> <json>``
line per message, ``local_ts`` 19 digits of nanoseconds. Converted by hftbacktest's own
``binancefutures.convert`` and ``bybit.convert_depth``; this module only checks each line's
stream first (the converters skip what they do not know, silently) and, when a converter
fails, finds the line to blame."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from trading_runtime.data.ingest import feed_scan
from trading_runtime.data.ingest.errors import RawDataError

__all__ = ["check_binancefutures", "check_bybit", "diagnose_feed", "feed_lines"]

_TS_DIGITS = feed_scan.TS_DIGITS
_BINANCE_EVENT = re.compile(rb'"e":"(\w+)"')
_BYBIT_TOPIC = re.compile(rb'"topic":"([\w.]+)"')
# What binancefutures.convert reads (opt ''): trades and depth updates; mark price and book
# ticker only with its options, so counted as ignored here.
_BINANCE_CONVERTED = {"trade", "depthUpdate"}
_BINANCE_IGNORED = {"markPriceUpdate", "bookTicker"}
_BINANCE_KNOWN = {e.encode() for e in _BINANCE_CONVERTED | _BINANCE_IGNORED}
_EVENT_LITERAL = b'"e":"'
# Where Binance's messages hold 'T' and 'X', looked at first (a line where they are not is
# searched): a depth update's 'T' right after its 'E' (13 digits of ms), a trade's 'X' right
# before its closing 'm'.
_DEPTH_T_AT = len(b'"e":"depthUpdate","E":') + 13 + 1
_TRADE_TAILS = (b',"m":false}}', b',"m":true}}')
assert len({name[0] for name in _BINANCE_KNOWN}) == len(_BINANCE_KNOWN)  # told by first letter


def feed_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` of a gzip feed; a damaged or truncated gzip fails on its line."""
    number = 0
    try:
        with gzip.open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line
    except (EOFError, OSError, zlib.error) as exc:
        raise RawDataError(
            path, f"truncated or damaged gzip after {number} line(s) ({exc})", number + 1
        ) from None


def _split(path: Path, number: int, line: bytes) -> bytes:
    head, body = line[:_TS_DIGITS], line[_TS_DIGITS + 1 :]
    if not head.isdigit() or line[_TS_DIGITS : _TS_DIGITS + 1] != b" ":
        raise RawDataError(
            path, "expected '<local_ts> <json>' with a 19-digit nanosecond local_ts", number
        )
    return body


def _binance_line(path: Path, number: int, line: bytes, seen: Counter[str]) -> None:
    body = _split(path, number, line)
    match = _BINANCE_EVENT.search(body)
    if match is None:
        if b'"bids"' in body:
            seen["snapshot"] += 1
        elif b'"code"' in body:
            seen["error message"] += 1
        elif b'"result"' in body:
            seen["subscription reply (skipped)"] += 1
        else:
            raise RawDataError(path, "not a Binance futures stream message", number)
        return
    event = match.group(1).decode()
    if event == "depthUpdate" and b'"T":' not in body:
        raise RawDataError(
            path,
            "a depth update without 'T' (transaction time): a Binance spot recording;"
            " only Binance USD-M futures feeds are supported (binancefutures.convert)",
            number,
        )
    if event == "trade" and b'"X":"MARKET"' not in body:
        event = "trade not MARKET (dropped)"
    elif event in _BINANCE_IGNORED:
        event = f"{event} (skipped)"
    elif event not in _BINANCE_CONVERTED:
        raise RawDataError(path, f"unknown stream event {event!r}", number)
    seen[event] += 1


def _binance_events(
    block: feed_scan.BlockLines,
) -> tuple[np.ndarray, dict[bytes, np.ndarray]] | None:
    """Where each line's ``"e":"`` is, and the lines of each known event; None when a line is
    not prefixed, holds ``"e":"`` other than once (so its match is the line's first) or an
    event not known (the per-line check names it)."""
    at = feed_scan.one_per_line(block, _EVENT_LITERAL) if block.prefixed() else None
    if at is None:
        return None
    names = at + len(_EVENT_LITERAL)  # at most the line's newline
    first = block.array[names]
    kinds = {}
    for name in _BINANCE_KNOWN:
        rows = np.flatnonzero(first == name[0])  # the known events' first letters differ
        if not feed_scan.matches_at(block, names[rows], name + b'"').all():
            return None
        kinds[name] = rows
    if sum(len(rows) for rows in kinds.values()) != len(at):
        return None
    return at, kinds


def _binance_block(block: feed_scan.BlockLines) -> Counter[str] | None:
    """``_binance_line`` over a block at once, or None for the per-line check: lines without an
    event, unknown events and depth updates without 'T' (which fail there, named). Where Binance
    puts 'T' and 'X' is probed first, the lines the probe misses searched one by one."""
    found = _binance_events(block)
    if found is None:
        return None
    at, kinds = found
    depth = kinds[b"depthUpdate"]
    probe = at[depth] + _DEPTH_T_AT
    if not feed_scan.contains(block, depth, b'"T":', [probe]).all():
        return None
    trades = kinds[b"trade"]
    market = b'"X":"MARKET"'
    probes = [block.ends[trades] - len(market + tail) for tail in _TRADE_TAILS]
    market_trades = int(feed_scan.contains(block, trades, market, probes).sum())
    counted = Counter({"depthUpdate": len(depth), "trade": market_trades})
    counted["trade not MARKET (dropped)"] = len(trades) - market_trades
    for event in _BINANCE_IGNORED:
        counted[f"{event} (skipped)"] = len(kinds[event.encode()])
    return +counted  # kinds that did not occur are not counted


def check_binancefutures(path: Path) -> dict[str, int]:
    """Counts of what the converter will read or skip, by stream; fails on a line of an
    unknown stream, and on a spot recording (depth updates without ``T``), which
    ``binancefutures.convert`` cannot read."""

    def line(number: int, line: bytes, seen: Counter[str]) -> None:
        _binance_line(path, number, line, seen)

    return _counted(path, _binance_block, line)


def _bybit_topic(topic: str, depth_level: int) -> str | None:
    if topic.startswith(f"orderbook.{depth_level}."):
        return "orderbook"
    if topic.startswith("orderbook."):
        return f"{topic.rsplit('.', 1)[0]} (skipped)"
    if topic.startswith("publicTrade."):
        return "publicTrade"
    return None


def _bybit_line(path: Path, number: int, line: bytes, seen: Counter[str], depth_level: int) -> None:
    body = _split(path, number, line)
    match = _BYBIT_TOPIC.search(body)
    if match is None:
        if b'"data"' in body:
            raise RawDataError(path, "a Bybit message with data but no topic", number)
        seen["reply (skipped)"] += 1
        return
    topic = match.group(1).decode()
    kind = _bybit_topic(topic, depth_level)
    if kind is None:
        raise RawDataError(path, f"unknown topic {topic!r}", number)
    seen[kind] += 1


def check_bybit(path: Path, depth_level: int) -> dict[str, int]:
    """Counts by topic; fails on a line of an unknown topic. Order books of another depth
    level than ``depth_level`` are skipped by the converter, and counted as such."""

    def block(block: feed_scan.BlockLines) -> Counter[str] | None:
        topics = feed_scan.key_per_line(block, _BYBIT_TOPIC)
        if topics is None:
            return None
        counted: Counter[str] = Counter()
        for topic, count in Counter(topics).items():
            kind = _bybit_topic(topic.decode(), depth_level)
            if kind is None:  # fails in the per-line check, with its line
                return None
            counted[kind] += count
        return counted

    def line(number: int, line: bytes, seen: Counter[str]) -> None:
        _bybit_line(path, number, line, seen, depth_level)

    return _counted(path, block, line)


def _counted(
    path: Path,
    block: Callable[[feed_scan.BlockLines], Counter[str] | None],
    line: Callable[[int, bytes, Counter[str]], None],
) -> dict[str, int]:
    """The counts, a block at a time; a damaged gzip is read again line by line, which names
    the line it breaks after."""
    try:
        return dict(feed_scan.count_blocks(path, block, line))
    except (EOFError, OSError, zlib.error):
        seen: Counter[str] = Counter()
        for number, raw in feed_lines(path):
            line(number, raw, seen)
        return dict(seen)


def diagnose_feed(path: Path, error: Exception) -> RawDataError:
    """The line a converter failed on: the first that is not JSON, or whose message lacks what
    the converters read; else the converter's own error."""
    for number, line in feed_lines(path):
        body = _split(path, number, line)
        try:
            json.loads(body)
        except ValueError as exc:
            return RawDataError(path, f"malformed JSON ({exc})", number)
    detail = " ".join(str(error).split()) or type(error).__name__
    return RawDataError(path, f"the converter failed: {type(error).__name__}: {detail}")


def symbol_of(path: Path, kind: str) -> str | None:
    """The instrument a feed is about: ``s`` (Binance) or the topic's last part (Bybit)."""
    pattern = re.compile(rb'"s":"(\w+)"') if kind == "binancefutures" else _BYBIT_TOPIC
    for _, line in feed_lines(path):
        match = pattern.search(line)
        if match:
            return match.group(1).decode().rsplit(".", 1)[-1]
    return None
