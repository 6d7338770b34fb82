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
from collections.abc import Iterator
from pathlib import Path

from trading_runtime.data.ingest.errors import RawDataError

__all__ = ["check_binancefutures", "check_bybit", "diagnose_feed", "feed_lines"]

_TS_DIGITS = 19  # the converters' ``timestamp_slice``
_BINANCE_EVENT = re.compile(rb'"e":"(\w+)"')
_BYBIT_TOPIC = re.compile(rb'"topic":"([\w.]+)"')
# What binancefutures.convert reads (opt ''): trades and depth updates; mark price and book
# ticker only with its options, so counted as ignored here.
_BINANCE_CONVERTED = {"trade", "depthUpdate"}
_BINANCE_IGNORED = {"markPriceUpdate", "bookTicker"}


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


def check_binancefutures(path: Path) -> dict[str, int]:
    """Counts of what the converter will read or skip, by stream; fails on a line of an
    unknown stream, and on a spot recording (depth updates without ``T``), which
    ``binancefutures.convert`` cannot read."""
    seen: Counter[str] = Counter()
    for number, line in feed_lines(path):
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
            continue
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
    return dict(seen)


def check_bybit(path: Path, depth_level: int) -> dict[str, int]:
    """Counts by topic; fails on a line of an unknown topic. Order books of another depth
    level than ``depth_level`` are skipped by the converter, and counted as such."""
    seen: Counter[str] = Counter()
    for number, line in feed_lines(path):
        body = _split(path, number, line)
        match = _BYBIT_TOPIC.search(body)
        if match is None:
            if b'"data"' in body:
                raise RawDataError(path, "a Bybit message with data but no topic", number)
            seen["reply (skipped)"] += 1
            continue
        topic = match.group(1).decode()
        if topic.startswith(f"orderbook.{depth_level}."):
            seen["orderbook"] += 1
        elif topic.startswith("orderbook."):
            seen[f"{topic.rsplit('.', 1)[0]} (skipped)"] += 1
        elif topic.startswith("publicTrade."):
            seen["publicTrade"] += 1
        else:
            raise RawDataError(path, f"unknown topic {topic!r}", number)
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
