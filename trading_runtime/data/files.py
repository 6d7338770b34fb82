"""Only regular files are read as data: a FIFO blocks its reader forever, a device never ends
(``/dev/zero``) or is not data at all, and a directory is not a file. Every local input file (a
part, a latency file) is checked by type with ``os.stat`` before it is opened, and opened so that
a file swapped for a FIFO after that check still cannot block (``open_regular``)."""

from __future__ import annotations

import os
import stat
from io import BufferedReader

__all__ = [
    "NotRegularFileError",
    "file_kind",
    "open_regular",
    "regular_file_problem",
]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFileError(OSError):
    """A path that exists but is no regular file; the message names the path and its type."""


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` is, for a message: "a regular file", "a FIFO" ..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def _problem_of(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return f"not a regular file ({file_kind(mode)}); expected a regular file"


def regular_file_problem(path: str | os.PathLike[str]) -> str | None:
    """None for a regular file (a symbolic link to one counts); else what is wrong, for a
    message: "file does not exist", "not a regular file (a FIFO) ..."."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "file does not exist"
    except NotADirectoryError:
        return "file does not exist (a parent is not a directory)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    return _problem_of(mode)


def open_regular(path: str | os.PathLike[str]) -> BufferedReader:
    """``path`` opened for reading, once its type is checked: ``NotRegularFileError`` for
    anything but a regular file, ``FileNotFoundError`` for a missing one. The open itself does
    not block (``O_NONBLOCK``) and the type is checked again on the open file, so a FIFO put in
    place between the two checks is refused too."""
    problem = regular_file_problem(path)
    if problem == "file does not exist":
        raise FileNotFoundError(f"{path}: {problem}")
    if problem is not None:
        raise NotRegularFileError(f"{path}: {problem}")
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        problem = _problem_of(os.fstat(descriptor).st_mode)
        if problem is not None:
            raise NotRegularFileError(f"{path}: {problem}")
        os.set_blocking(descriptor, True)
        return open(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
