"""Part validation: everything hftbacktest needs from a file, checked before any engine starts.

hftbacktest waits forever on a file it cannot read, so an unreadable part must never reach it.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hftbacktest.binding import event_dtype
from hftbacktest.data.validation import validate_event_order

from trading_runtime.layout import part_key

__all__ = [
    "PartInfo",
    "PartValidationError",
    "check_events",
    "load_part_events",
    "sha256_file",
    "validate_part",
]


class PartValidationError(ValueError):
    """A part file that cannot be backtested; the message names the file and the problem."""


@dataclass(frozen=True)
class PartInfo:
    """What the runtime records about a valid part."""

    path: str
    name: str
    n_events: int
    first_exch_ts: int
    last_exch_ts: int
    first_local_ts: int
    last_local_ts: int
    sha256: str
    size_bytes: int


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def load_part_events(path: Path) -> np.ndarray:
    """Read array ``data`` from a part, or raise PartValidationError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise PartValidationError(f"part {path}: file does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "data" not in archive.files:
                raise PartValidationError(
                    f"part {path}: no array named 'data' (found {sorted(archive.files)}); expected"
                    " hftbacktest's event array saved as np.savez(path, data=events)"
                )
            data = archive["data"]
    except PartValidationError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise PartValidationError(
            f"part {path}: not a readable .npz file ({type(exc).__name__}: {exc})"
        ) from exc
    return data


def check_events(path: Path, data: np.ndarray) -> None:
    """Check dtype, emptiness and timestamp order of an event array."""
    if data.dtype != event_dtype:
        raise PartValidationError(
            f"part {path}: array 'data' has dtype {data.dtype}, expected hftbacktest event_dtype"
            f" {event_dtype}"
        )
    if data.ndim != 1:
        raise PartValidationError(f"part {path}: array 'data' has shape {data.shape}, expected 1-D")
    if len(data) == 0:
        raise PartValidationError(f"part {path}: array 'data' is empty")
    try:
        validate_event_order(data)
    except ValueError as exc:
        raise PartValidationError(
            f"part {path}: timestamps are not monotonic ({exc}); exch_ts must be non-decreasing"
            " over exchange events and local_ts over local events"
        ) from exc
    late = data["local_ts"] < data["exch_ts"]
    if late.any():
        row = int(np.argmax(late))
        raise PartValidationError(
            f"part {path}: row {row} has local_ts {int(data['local_ts'][row])} before exch_ts"
            f" {int(data['exch_ts'][row])}; expected local_ts >= exch_ts"
        )


def validate_part(path: Path) -> PartInfo:
    """Validate a part and return its facts (counts, time span, sha256)."""
    path = Path(path)
    data = load_part_events(path)
    check_events(path, data)
    return PartInfo(
        path=str(path),
        name=part_key(path),
        n_events=len(data),
        first_exch_ts=int(data["exch_ts"].min()),
        last_exch_ts=int(data["exch_ts"].max()),
        first_local_ts=int(data["local_ts"].min()),
        last_local_ts=int(data["local_ts"].max()),
        sha256=sha256_file(path),
        size_bytes=path.stat().st_size,
    )
