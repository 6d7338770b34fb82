"""``.npz`` files with stable bytes, written atomically."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["write_npz_deterministic"]

# A fixed zip timestamp: numpy's savez stamps the current time into the archive, which would make
# the same arrays give different bytes on each run.
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` with stable bytes, atomically (temp + rename).

    Each array streams into its zip member (no in-memory copy of it: a 2 M-event part is
    128 MB). Its size is set first, so the member's header is what ``ZipFile.writestr`` of the
    same bytes would write (zip64 only past the size limit)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(arrays):
                array = np.ascontiguousarray(arrays[name])
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, np.lib.format.header_data_from_array_1_0(array)
                )
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                info.file_size = len(header.getvalue()) + array.nbytes
                with archive.open(info, "w") as member:
                    member.write(header.getvalue())
                    member.write(array.data.cast("B") if array.nbytes else b"")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
