"""A feed's lines checked a block at a time: the per-line Python loop over a gzip feed cost about
half of what the converter itself takes, for every conversion (the benchmark in
``benchmarks/conversion.py``). Here a block of whole lines is checked with numpy and the regex
engine; a block with anything unusual (a line without the key, a bad prefix, an unknown kind)
is handed back to the per-line check, so errors and their line numbers stay exactly as before.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "TS_DIGITS",
    "BlockLines",
    "blocks",
    "count_blocks",
    "key_per_line",
    "lines_containing",
    "positions",
]

_BLOCK = 8 << 20  # decompressed bytes read at a time
TS_DIGITS = 19  # the converters' ``timestamp_slice``: a line's local time, in nanoseconds
_SAMPLE = 1 << 16  # bytes sampled to pick the rarest byte of a literal
_ZERO, _NINE, _SPACE, _NEWLINE = ord("0"), ord("9"), ord(" "), ord("\n")


class BlockLines:
    """Whole lines of a feed, ``first`` the first one's number; ``ends`` their newlines."""

    def __init__(self, first: int, data: bytes) -> None:
        self.first = first
        self.data = data
        self.array = np.frombuffer(data, np.uint8)
        self.ends = np.flatnonzero(self.array == _NEWLINE)

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
        starts = np.concatenate(([0], self.ends[:-1] + 1))
        if len(starts) == 0 or (self.ends - starts <= TS_DIGITS).any():
            return False
        head = self.array[starts[:, None] + np.arange(TS_DIGITS)]
        return bool(((head >= _ZERO) & (head <= _NINE)).all()) and bool(
            (self.array[starts + TS_DIGITS] == _SPACE).all()
        )


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


def key_per_line(block: BlockLines, key: re.Pattern[bytes], literal: bytes) -> list[bytes] | None:
    """The key's value on each line, when each line is prefixed and holds ``literal`` (how the
    key's pattern starts) exactly once, each time a match of ``key``: so it is also the first
    match, as the per-line check reads it. Else None."""
    if not block.prefixed():
        return None
    values: list[bytes] = key.findall(block.data)
    starts = positions(block, literal)
    if not len(values) == len(starts) == len(block.ends):
        return None
    lines = np.searchsorted(block.ends, starts)
    if (np.bincount(lines, minlength=len(block.ends)) != 1).any():
        return None
    return values


def lines_containing(block: BlockLines, literal: bytes) -> np.ndarray:
    """Per line, whether it contains ``literal``."""
    has = np.zeros(len(block.ends), bool)
    has[np.searchsorted(block.ends, positions(block, literal))] = True
    return has


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
