"""Reading a part file: the ``.npz`` archive's array ``data`` of hftbacktest events, checked
for what a reader meets first (a regular file, a zip archive, the member, its dtype and shape)
before numpy or hftbacktest decode it. Everything else about the events is ``validate``'s."""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from trading_runtime.data.event_format import EVENT_DTYPE as event_dtype
from trading_runtime.data.files import NotRegularFileError, open_regular, regular_file_problem
from trading_runtime.data.part_info import PartValidationError

__all__ = ["PartValidationError", "check_dtype_and_shape", "load_part_events"]

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_NPY_MAGIC = b"\x93NUMPY"
_DATA_MEMBER = "data.npy"
_UNREADABLE = "not a readable .npz file"
_EXPECTED_ARCHIVE = "expected an .npz archive of hftbacktest events, np.savez(path, data=events)"
# What reading a damaged archive can raise: zipfile (BadZipFile, NotImplementedError for an
# unknown compression method, RuntimeError for an encrypted member), zlib and numpy's header
# parser (ValueError, SyntaxError from a garbled header dict).
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    SyntaxError,
    KeyError,
    TypeError,
    OverflowError,
)


def _check_archive_header(path: Path, handle: BinaryIO) -> None:
    """Fail early, with what the file is, unless it starts like a zip archive (numpy would
    otherwise try to unpickle it and talk about ``allow_pickle``)."""
    head = handle.read(len(_NPY_MAGIC))
    handle.seek(0)
    if not head:
        raise PartValidationError(
            f"part {path}: {_UNREADABLE}: the file is empty; {_EXPECTED_ARCHIVE}"
        )
    if head.startswith(_NPY_MAGIC):
        raise PartValidationError(
            f"part {path}: {_UNREADABLE}: it holds a single .npy array, not an archive;"
            f" {_EXPECTED_ARCHIVE}"
        )
    if not head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        raise PartValidationError(
            f"part {path}: {_UNREADABLE}: not a zip archive (it starts with {head[:4]!r});"
            f" {_EXPECTED_ARCHIVE}"
        )


def _read_data_member(path: Path, archive: zipfile.ZipFile) -> np.ndarray:
    """Array ``data`` of an open archive, its header checked before any row is read."""
    names = archive.namelist()
    if _DATA_MEMBER not in names:
        arrays = sorted(name.removesuffix(".npy") for name in names)
        raise PartValidationError(
            f"part {path}: no array named 'data' (found {arrays}); expected hftbacktest's event"
            " array saved as np.savez(path, data=events)"
        )
    member = archive.getinfo(_DATA_MEMBER)
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise PartValidationError(
                f"part {path}: array 'data' uses .npy format {version}; expected 1.0 or 2.0"
            )
        if dtype.hasobject:
            raise PartValidationError(
                f"part {path}: array 'data' holds pickled Python objects (dtype {dtype});"
                f" expected hftbacktest event_dtype {event_dtype}"
            )
        check_dtype_and_shape(path, dtype, shape)
        # A garbled header can declare more rows than the member holds; numpy would allocate
        # them all before finding out.
        declared = math.prod(shape) * dtype.itemsize
        if declared > member.file_size:
            raise PartValidationError(
                f"part {path}: array 'data' declares {shape[0]} rows ({declared} bytes) but the"
                f" archive holds {member.file_size} bytes; the file is truncated or damaged"
            )
    with archive.open(member) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


def load_part_events(path: Path) -> np.ndarray:
    """Read array ``data`` from a part, or raise PartValidationError saying what is wrong."""
    path = Path(path)
    # By type before any open: a FIFO would block the reader, a device never end.
    problem = regular_file_problem(path)
    if problem is not None:
        raise PartValidationError(f"part {path}: {problem}")
    try:
        with open_regular(path) as handle:
            _check_archive_header(path, handle)
            with zipfile.ZipFile(handle) as archive:
                return _read_data_member(path, archive)
    except PartValidationError:
        raise
    except (NotRegularFileError, FileNotFoundError) as exc:  # swapped since the check
        raise PartValidationError(f"part {exc}") from None
    except MemoryError:
        raise PartValidationError(f"part {path}: array 'data' does not fit in memory") from None
    except _READ_ERRORS as exc:
        detail = " ".join(str(exc).split())  # one line, whatever the library wrote
        raise PartValidationError(
            f"part {path}: {_UNREADABLE} ({type(exc).__name__}: {detail})"
        ) from exc


def check_dtype_and_shape(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    if dtype != event_dtype:
        raise PartValidationError(
            f"part {path}: array 'data' has dtype {dtype}, expected hftbacktest event_dtype"
            f" {event_dtype}"
        )
    if len(shape) != 1:
        raise PartValidationError(f"part {path}: array 'data' has shape {shape}, expected 1-D")
