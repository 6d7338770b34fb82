"""What a converter prints, captured: hftbacktest's converters report their corrections only on
standard output (from Python and from numba-compiled code, which writes to file descriptor 1
directly), so the descriptor itself is redirected while they run."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["captured_stdout"]


def _flush_c_stdout() -> None:
    """Flush the C library's stdout buffer (numba's ``print`` writes through it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def captured_stdout(lines: list[str]) -> Iterator[None]:
    """Run the block with file descriptor 1 (and ``sys.stdout``) sent to a scratch file; its
    lines are appended to ``lines`` when the block ends, whether or not it raised."""
    sys.stdout.flush()
    _flush_c_stdout()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as scratch:
        try:
            os.dup2(scratch.fileno(), 1)
            with contextlib.redirect_stdout(open(os.dup(1), "w", closefd=True)) as stream:
                try:
                    yield
                finally:
                    stream.flush()
        finally:
            sys.stdout.flush()
            _flush_c_stdout()
            os.dup2(saved, 1)
            os.close(saved)
            scratch.seek(0)
            text = scratch.read().decode("utf-8", "replace")
            lines.extend(line for line in text.splitlines() if line.strip())
