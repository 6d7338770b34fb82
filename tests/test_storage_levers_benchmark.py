"""The storage-levers benchmark (``python -m benchmarks.storage_levers``) runs: one tiny round
over both storages and every lever, in this process, stores every partition and reports each
row (no timing asserted). Needs the PostgreSQL test server (tests/test_postgres.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks import storage_levers


def test_one_round_gives_every_storage_and_lever(
    tmp_path: Path, server_url: str, generated_parts: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DAGSTER_HOME", *storage_levers._ENV):
        monkeypatch.delenv(name, raising=False)  # the benchmark sets them; restored afterwards
    parts = tmp_path / "parts"
    parts.mkdir()
    for part in generated_parts[:2]:
        shutil.copy2(part, parts / part.name)
    found = storage_levers.measure(parts, 1, tmp_path / "work", server_url)
    rows = [name for name in found if name != "floor_s"]
    assert rows == [
        f"{s} {lever}" for s in ("sqlite", "postgres") for lever in storage_levers.LEVERS
    ]
    for name in rows:
        (run,) = found[name]
        assert run["wall_s"] > 0 and run["parent_cpu_s"] > 0 and run["events"] > 0, name
    # One planned event for the asset instead of one per partition: fewer events.
    assert found["sqlite subset"][0]["events"] < found["sqlite default"][0]["events"]
    table = storage_levers.report(found, 2).splitlines()
    assert sum(line.startswith("| sqlite") or line.startswith("| postgres") for line in table) == 8
