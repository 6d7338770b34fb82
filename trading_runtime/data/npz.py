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
    """Write ``arrays`` as a compressed ``.npz`` with stable bytes, atomically (temp + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(arrays):
                buffer = io.BytesIO()
                np.lib.format.write_array(
                    buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False
                )
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, buffer.getvalue())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
