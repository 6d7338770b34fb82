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


def _binance_block(block: feed_scan.BlockLines) -> Counter[str] | None:
    """``_binance_line`` over a block at once, or None for the per-line check: lines without an
    event, unknown events and depth updates without 'T' (which fail there, named)."""
    events = feed_scan.key_per_line(block, _BINANCE_EVENT, b'"e":"')
    if events is None or not set(events) <= _BINANCE_KNOWN:
        return None
    kinds = np.array(events)
    depth = kinds == b"depthUpdate"
    if not feed_scan.lines_containing(block, b'"T":')[depth].all():
        return None
    trades = kinds == b"trade"
    market = int(feed_scan.lines_containing(block, b'"X":"MARKET"')[trades].sum())
    counted = Counter({"depthUpdate": int(depth.sum()), "trade": market})
    counted["trade not MARKET (dropped)"] = int(trades.sum()) - market
    for event in _BINANCE_IGNORED:
        counted[f"{event} (skipped)"] = int((kinds == event.encode()).sum())
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
        topics = feed_scan.key_per_line(block, _BYBIT_TOPIC, b'"topic":"')
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
