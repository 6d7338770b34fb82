"""One raw group into the parts directory, as a unit: converted into a hidden staging directory
beside the parts (``run.ingest_raw``), checked against the parts already there, then moved in by
rename, each part before its lineage sidecar and after its order-latency file, when the spec
asks for them (``IngestSpec.latency_file``).

Only this group's parts change: a produced part whose name is taken by a hand-dropped part or by
another raw group's part fails the group and writes nothing. Parts this group made before and no
longer makes (a shorter recording) are removed with their sidecars. A failing group writes
nothing, so the parts stored before stay as they were."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from trading_runtime.config.engine import LATENCY_DIR, latency_file_name
from trading_runtime.data.ingest.errors import RawDataError
from trading_runtime.data.ingest.run import LINEAGE_DIR, IngestedPart, IngestSpec, ingest_raw
from trading_runtime.data.raw_store import RawGroup, lineage_by_part, lineage_raw_key
from trading_runtime.layout import part_file_name

__all__ = ["STAGING_PREFIX", "GroupConversion", "convert_group"]

# Hidden (no part, no partition): ``<parts>/.raw-<uuid>/``.
STAGING_PREFIX = ".raw-"


@dataclass(frozen=True)
class GroupConversion:
    """The parts a group became (in the parts directory), and those removed."""

    parts: list[IngestedPart]
    removed: list[str]


def _owner_problem(name: str, owner: str | None, group: RawGroup) -> str | None:
    if owner == group.key:
        return None
    if owner is None:
        return f"part {name} already exists and was not made from a raw file; move it away first"
    return f"part {name} is already made from raw {owner}"


def convert_group(group: RawGroup, spec: IngestSpec, parts_dir: Path) -> GroupConversion:
    """Convert ``group`` into ``parts_dir``, or raise ``RawDataError`` having changed nothing."""
    parts_dir = Path(parts_dir)
    parts_dir.mkdir(parents=True, exist_ok=True)
    staging = parts_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        report = ingest_raw(group.files, spec, staging)
        if report.errors:
            raise report.errors[0]
        lineages = lineage_by_part(parts_dir)
        owners = {name: lineage_raw_key(lineage) for name, lineage in lineages.items()}
        produced = [part.path.stem for part in report.parts]
        for name in produced:
            if (parts_dir / part_file_name(name)).exists():
                problem = _owner_problem(name, owners.get(name), group)
                if problem is not None:
                    raise RawDataError(group.files[-1], problem)
        (parts_dir / LINEAGE_DIR).mkdir(exist_ok=True)
        moved = []
        for part in report.parts:
            name = part.path.stem
            if spec.latency_file is not None:  # before its part: a backtest may start on it
                latency = latency_file_name(spec.latency_file, name)
                (parts_dir / LATENCY_DIR).mkdir(exist_ok=True)
                os.replace(staging / LATENCY_DIR / latency, parts_dir / LATENCY_DIR / latency)
            os.replace(part.path, parts_dir / part_file_name(name))
            os.replace(
                staging / LINEAGE_DIR / f"{name}.json", parts_dir / LINEAGE_DIR / f"{name}.json"
            )
            moved.append(IngestedPart(parts_dir / part_file_name(name), part.lineage))
        removed = sorted(n for n, o in owners.items() if o == group.key and n not in produced)
        for name in removed:
            (parts_dir / part_file_name(name)).unlink(missing_ok=True)
            (parts_dir / LINEAGE_DIR / f"{name}.json").unlink(missing_ok=True)
            if spec.latency_file is not None:  # derived from the part, gone with it
                latency = latency_file_name(spec.latency_file, name)
                (parts_dir / LATENCY_DIR / latency).unlink(missing_ok=True)
        return GroupConversion(moved, removed)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
