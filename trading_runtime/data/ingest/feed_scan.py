"""A feed's lines checked a block at a time: the per-line Python loop over a gzip feed cost about
half of what the converter itself takes, for every conversion (the benchmark in
``benchmarks/conversion.py``). Here a block of whole lines is checked with numpy and the regex
engine; a block with anything unusual (a line without the key, a bad prefix, an unknown kind)
is handed back to the per-line check, so errors and their line numbers stay exactly as before.

A pass over a whole block (a comparison, a nonzero) costs a sizeable part of decompressing it,
so there are few: the newlines, the prefixes, one search for a literal each line holds once
(``one_per_line``) or one regex match per line (``key_per_line``); then reads at offsets
(``matches_at``, ``contains``), on the lines concerned only."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "TS_DIGITS",
    "BlockLines",
    "blocks",
    "contains",
    "count_blocks",
    "key_per_line",
    "matches_at",
    "one_per_line",
    "positions",
]

_BLOCK = 8 << 20  # decompressed bytes read at a time
TS_DIGITS = 19  # the converters' ``timestamp_slice``: a line's local time, in nanoseconds
_SAMPLE = 1 << 16  # bytes sampled to pick the rarest byte of a literal
_ZERO, _SPACE, _NEWLINE = ord("0"), ord(" "), ord("\n")


class BlockLines:
    """Whole lines of a feed, ``first`` the first one's number; ``starts`` and ``ends`` (their
    newlines) index ``array``, the block's bytes."""

    def __init__(self, first: int, data: bytes) -> None:
        self.first = first
        self.data = data
        self.array = np.frombuffer(data, np.uint8)
        self.ends = np.flatnonzero(self.array == _NEWLINE)
        self.starts = np.concatenate(([0], self.ends[:-1] + 1))

    def rarest(self, literal: bytes) -> int:
        """The index of the literal's byte that is rarest in (the start of) the block."""
        sample = self.array[:_SAMPLE]
        return min(range(len(literal)), key=lambda i: int(np.count_nonzero(sample == literal[i])))

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """``(number, line)`` one at a time, for the per-line check."""
        for offset, line in enumerate(self.data.split(b"\n")[:-1]):
            yield self.first + offset, line

    def prefixed(self) -> bool:
        """Every line starts with a 19-digit timestamp and a space."""
        starts = self.starts
        if len(starts) == 0 or (self.ends - starts <= TS_DIGITS).any():
            return False
        head = sliding_window_view(self.array, TS_DIGITS + 1)[starts]  # a row per line
        digit = head[:, :TS_DIGITS] - np.uint8(_ZERO) < 10  # below '0' wraps around, above 9
        return bool(digit.all()) and bool((head[:, TS_DIGITS] == _SPACE).all())


def blocks(path: Path) -> Iterator[BlockLines]:
    """The feed in blocks of whole lines (the last one's newline added when it has none); gzip
    errors propagate, for the caller to take the per-line path that names them."""
    number = 1
    rest = b""
    with gzip.open(path, "rb") as handle:
        while True:
            read = handle.read(_BLOCK)
            data = rest + read
            if not read:
                if data:
                    yield BlockLines(number, data + b"\n")
                return
            cut = data.rfind(b"\n") + 1
            data, rest = data[:cut], data[cut:]
            if data:
                block = BlockLines(number, data)
                yield block
                number += len(block.ends)


def positions(block: BlockLines, literal: bytes) -> np.ndarray:
    """Where ``literal`` starts in the block: candidates on its rarest byte in the block, narrowed
    byte by byte. Vectorized: a match object per line in Python costs as much as the check."""
    array = block.array
    anchor = block.rarest(literal)
    found = np.flatnonzero(array == literal[anchor]) - anchor
    found = found[(found >= 0) & (found <= len(array) - len(literal))]
    for offset, byte in enumerate(literal):
        if offset != anchor:
            found = found[array[found + offset] == byte]
    return found


def one_per_line(block: BlockLines, literal: bytes) -> np.ndarray | None:
    """Where ``literal`` starts on each line, when each line holds it exactly once (a literal
    without a newline); else None."""
    found = positions(block, literal)
    ends = block.ends
    if len(found) != len(ends) or not (found < ends).all() or not (found[1:] > ends[:-1]).all():
        return None
    return found


def matches_at(block: BlockLines, at: np.ndarray, literal: bytes) -> np.ndarray:
    """Per offset in ``at``, whether ``literal`` starts there (False where it would not fit)."""
    if len(literal) > len(block.array):
        return np.zeros(len(at), bool)
    windows = sliding_window_view(block.array, len(literal))  # a row per offset
    ok = (at >= 0) & (at < len(windows))
    ok[ok] = (windows[at[ok]] == np.frombuffer(literal, np.uint8)).all(axis=1)
    return ok


def contains(
    block: BlockLines, rows: np.ndarray, literal: bytes, probes: list[np.ndarray]
) -> np.ndarray:
    """Per line in ``rows`` (line indices), whether it holds ``literal`` (without a newline):
    looked for at each of ``probes`` (offsets, per row) in turn, on the rows not found yet,
    then searched in Python on the lines no probe found it in."""
    found = np.zeros(len(rows), bool)
    for at in probes:
        missed = np.flatnonzero(~found)
        found[missed] = matches_at(block, at[missed], literal)
    for index in np.flatnonzero(~found):
        row = rows[index]
        found[index] = block.data.find(literal, block.starts[row], block.ends[row]) >= 0
    return found


def key_per_line(block: BlockLines, key: re.Pattern[bytes]) -> list[bytes] | None:
    """The key's value on each line (its first match there, as the per-line check reads it),
    when each line is prefixed and holds a match of ``key`` (a pattern that cannot match a
    newline); else None."""
    if not block.prefixed():
        return None
    # To the end of the line: at most one match per line, the line's first.
    values: list[bytes] = _line_key(key).findall(block.data)
    return values if len(values) == len(block.ends) else None


_LINE_KEYS: dict[re.Pattern[bytes], re.Pattern[bytes]] = {}


def _line_key(key: re.Pattern[bytes]) -> re.Pattern[bytes]:
    if key not in _LINE_KEYS:
        _LINE_KEYS[key] = re.compile(rb"(?:" + key.pattern + rb")[^\n]*\n", key.flags)
    return _LINE_KEYS[key]


def count_blocks(
    path: Path,
    fast: Callable[[BlockLines], Counter[str] | None],
    slow: Callable[[int, bytes, Counter[str]], None],
) -> Counter[str]:
    """Counts over the feed: ``fast`` per block, or ``slow`` per line of a block it declines."""
    seen: Counter[str] = Counter()
    for block in blocks(path):
        counted = fast(block)
        if counted is None:
            for number, line in block.lines():
                slow(number, line, seen)
        else:
            seen.update(counted)
    return seen
