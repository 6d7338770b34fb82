"""Order-latency files (``engine.latency`` of type ``intp_order_latency``): where a part's file
is, what a result records of the files it used, and the one hash of a set of them.

A latency file is data beside the parts: ``latency/<file>`` in the parts' directory, ``{part}``
in the configured name standing for the part's name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trading_runtime.config import (
    LATENCY_DIR,
    PART_PLACEHOLDER,
    BacktestConfig,
    EngineSection,
    InterpolatedLatency,
)
from trading_runtime.data.files import regular_file_problem
from trading_runtime.data.part_info import PartInfo, PartValidationError, sha256_file

__all__ = [
    "latency_file_path",
    "latency_files_in",
    "latency_files_sha256",
    "latency_provenance",
    "per_part_latency_name",
]

DEFAULT_PER_PART_LATENCY_NAME = f"{PART_PLACEHOLDER}.npz"


def latency_file_path(engine: EngineSection, part: PartInfo) -> Path | None:
    """The order-latency file of ``engine.latency`` for a part: ``latency/<file>`` in the
    part's directory (``{part}`` in the name is the part's name). Missing: a clear error, since
    hftbacktest waits forever on a file it cannot open."""
    name = engine.latency_file(part.name)
    if name is None:
        return None
    path = Path(part.path).parent / LATENCY_DIR / name
    problem = regular_file_problem(path)
    if problem is not None and problem != "file does not exist":
        raise PartValidationError(f"part {part.name}: engine.latency file {path}: {problem}")
    if problem is not None:
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
    used = list(dict.fromkeys(latency_files))
    if len(used) == 1:
        return {
            "latency_file": f"{LATENCY_DIR}/{used[0].name}",
            "latency_sha256": sha256_file(used[0]),
        }
    listed = _listed(used)  # each file hashed once
    return {
        "latency_file": f"{LATENCY_DIR}/{latency_files[-1].name}",
        "latency_sha256": _listed_sha256(listed),
        "latency_files": listed,
    }


def _listed(files: Sequence[Path]) -> list[dict[str, str]]:
    return [{"file": f"{LATENCY_DIR}/{p.name}", "sha256": sha256_file(p)} for p in files]


def latency_files_sha256(latency_files: Sequence[Path]) -> str:
    """The one hash of a set of latency files, wherever it is compared: a result's
    ``latency_sha256``, the CLI's plan and Dagster's code version. One file: its sha256; several
    (duplicates once, in order): sha256 of their names and hashes as JSON."""
    used = list(dict.fromkeys(latency_files))
    if len(used) == 1:
        return sha256_file(used[0])
    return _listed_sha256(_listed(used))


def _listed_sha256(listed: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(listed, sort_keys=True).encode()).hexdigest()


def latency_files_in(config: BacktestConfig, parts_dir: str | Path | None) -> list[Path] | None:
    """Every order-latency file ``engine.latency`` may read in a local parts directory: the
    named file, or every file its ``{part}`` pattern matches, sorted by name. None when the
    config reads no latency file or the parts directory is not local."""
    latency = config.engine.latency
    if not isinstance(latency, InterpolatedLatency) or parts_dir is None:
        return None
    directory = Path(str(parts_dir)) / LATENCY_DIR
    if "://" in str(parts_dir) or not directory.is_dir():
        return None
    pattern = re.compile(
        re.escape(latency.file).replace(re.escape(PART_PLACEHOLDER), r"[A-Za-z0-9_.-]+")
    )
    return sorted(p for p in directory.iterdir() if p.is_file() and pattern.fullmatch(p.name))


def per_part_latency_name(engine: EngineSection) -> str:
    """The name a part's own latency file gets where the config will find it: the config's
    ``engine.latency.file`` when it is per part (has ``{part}``), else ``{part}.npz``."""
    latency = engine.latency
    if isinstance(latency, InterpolatedLatency) and PART_PLACEHOLDER in latency.file:
        return latency.file
    return DEFAULT_PER_PART_LATENCY_NAME
