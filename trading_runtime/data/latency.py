"""Order-latency files (``engine.latency`` of type ``intp_order_latency``): where a part's file
is, and what a result records of the files it used.

A latency file is data beside the parts: ``latency/<file>`` in the parts' directory, ``{part}``
in the configured name standing for the part's name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trading_runtime.config import LATENCY_DIR, EngineSection
from trading_runtime.data.validate import PartInfo, PartValidationError, sha256_file

__all__ = ["latency_file_path", "latency_provenance"]


def latency_file_path(engine: EngineSection, part: PartInfo) -> Path | None:
    """The order-latency file of ``engine.latency`` for a part: ``latency/<file>`` in the
    part's directory (``{part}`` in the name is the part's name). Missing: a clear error, since
    hftbacktest waits forever on a file it cannot open."""
    name = engine.latency_file(part.name)
    if name is None:
        return None
    path = Path(part.path).parent / LATENCY_DIR / name
    if not path.is_file():
        raise PartValidationError(
            f"part {part.name}: engine.latency file {LATENCY_DIR}/{name} does not exist beside"
            f" the part ({path}); interpolated latency files are read from latency/ in the parts'"
            " own directory"
        )
    return path


def latency_provenance(latency_files: Sequence[Path]) -> dict[str, Any]:
    """What a result records of its latency files (the inputs' files in feeding order): the
    scored part's file by name and its sha256; with warm-up files too, their list, and
    ``latency_sha256`` hashes that list. Empty without latency files."""
    if not latency_files:
        return {}
    scored = latency_files[-1]
    recorded: dict[str, Any] = {
        "latency_file": f"{LATENCY_DIR}/{scored.name}",
        "latency_sha256": sha256_file(scored),
    }
    used = list(dict.fromkeys(latency_files))
    if len(used) > 1:
        listed = [{"file": f"{LATENCY_DIR}/{p.name}", "sha256": sha256_file(p)} for p in used]
        recorded["latency_files"] = listed
        recorded["latency_sha256"] = hashlib.sha256(
            json.dumps(listed, sort_keys=True).encode()
        ).hexdigest()
    return recorded
