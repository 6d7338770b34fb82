"""The error a raw file fails with: one line naming the file, and the line to blame if any."""

from __future__ import annotations

from pathlib import Path

__all__ = ["RawDataError"]


class RawDataError(ValueError):
    """A raw file that cannot become parts; the message is ``raw file <path>[:<line>]: <why>``."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"raw file {where}: {' '.join(problem.split())}")
        self.path = str(path)
        self.line = line
