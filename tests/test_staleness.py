"""Which stored results are stale, and the part-hash cache behind it (no Dagster, no engine)."""

import os
from pathlib import Path
from typing import Any

import pytest
from upath import UPath

from trading_runtime.freshness.code_version import current_code_inputs
from trading_runtime.freshness.part_hashes import PartHashCache
from trading_runtime.freshness.staleness import (
    FAILED,
    NO_RESULT,
    NOT_RECORDED,
    CurrentInputs,
    stale_reason,
)
from trading_runtime.results import CODE_INPUTS

CODE = {name: f"{name}-now" for name in CODE_INPUTS}
FILES = {"p1": "sha-p1", "p0": "sha-p0"}


def _current(**changes: Any) -> CurrentInputs:
    values: dict[str, Any] = {"part": "p1", "code": CODE, "sha256_of": FILES.get, **changes}
    return CurrentInputs(**values)


def _stored(**changes: Any) -> dict[str, Any]:
    return {"part": "p1", "part_sha256": "sha-p1", **CODE, "content_hash": "c", **changes}


def test_an_unchanged_result_is_up_to_date() -> None:
    assert stale_reason(_stored(), _current()) is None


@pytest.mark.parametrize(
    ("stored", "current", "reason"),
    [
        (None, {}, NO_RESULT),
        ({}, {"last_run_failed": True}, FAILED),
        ({"part_sha256": "old"}, {}, "part changed"),
        ({}, {"sha256_of": {}.get}, "part file gone"),
        ({"config_hash": "old"}, {}, "config changed"),
        ({"strategy_source_hash": "old"}, {}, "strategy source changed"),
        ({"engine_version": "2.4.3"}, {}, "engine version changed"),
        ({"framework_sha": None}, {}, "framework changed"),
        ({"runtime_version": "0.0.1"}, {}, "runtime version changed"),
        ({}, {"recorded": False}, NOT_RECORDED),
        # A result made before a part changed is stale for that, whatever else changed too.
        ({"part_sha256": "old", "config_hash": "old"}, {}, "part changed"),
    ],
)
def test_reasons(stored: dict[str, Any] | None, current: dict[str, Any], reason: str) -> None:
    provenance = None if stored is None else _stored(**stored)
    assert stale_reason(provenance, _current(**current)) == reason


def test_listed_inputs_must_all_be_unchanged() -> None:
    """A result made from more than its part (warm-up parts) lists every input file."""
    inputs = [
        {"part": "p0", "sha256": "sha-p0", "role": "warm-up"},
        {"part": "p1", "sha256": "sha-p1", "role": "part"},
    ]
    assert stale_reason(_stored(inputs=inputs), _current()) is None
    changed = [{**inputs[0], "sha256": "old"}, inputs[1]]
    assert stale_reason(_stored(inputs=changed), _current()) == "warm-up p0 changed"
    gone = _current(sha256_of={"p1": "sha-p1"}.get)
    assert stale_reason(_stored(inputs=inputs), gone) == "warm-up p0 gone"


def test_current_code_inputs_match_what_a_result_records(hft_config: Any) -> None:
    inputs = current_code_inputs(hft_config)
    assert set(inputs) == set(CODE_INPUTS)
    assert inputs["engine"] == "hftbacktest" and inputs["config_hash"] == hft_config.config_hash()


def test_part_hashes_are_cached_by_size_and_mtime(tmp_path: Path) -> None:
    part = tmp_path / "p.npz"
    part.write_bytes(b"one")
    old = 1_000_000_000_000_000_000  # 2001: long before the cache's racy window
    os.utime(part, ns=(old, old))
    cache_file = tmp_path / "cache" / "hashes.json"
    first = PartHashCache(cache_file)
    digest = first.sha256(UPath(part))
    first.save()
    again = PartHashCache(cache_file)
    assert again.sha256(UPath(part)) == digest and again.hashed == 0
    # Rewritten: a new mtime (or size) reads the file again.
    part.write_bytes(b"two")
    os.utime(part, ns=(old + 1, old + 1))
    assert again.sha256(UPath(part)) != digest and again.hashed == 1
    assert again.sha256(UPath(tmp_path / "gone.npz")) is None
    # A file modified just now is hashed but not cached (a same-size rewrite within the file
    # system's clock tick would keep its mtime).
    fresh = tmp_path / "fresh.npz"
    fresh.write_bytes(b"x")
    again.sha256(UPath(fresh))
    again.save()
    last = PartHashCache(cache_file)
    last.sha256(UPath(fresh))
    assert last.hashed == 1
    cache_file.write_text("{not json")
    assert PartHashCache(cache_file).sha256(UPath(part)) is not None  # damaged: hashed again


def test_a_changed_or_missing_latency_file_makes_a_result_stale(
    tmp_path: Path, hft_config: Any
) -> None:
    """Per-part latency files are inputs too: the result records their sha256."""
    from trading_runtime.config import apply_overrides
    from trading_runtime.data.latency import latency_provenance
    from trading_runtime.freshness.plan import latency_changes

    config = apply_overrides(
        hft_config, {"engine.latency": {"type": "intp_order_latency", "file": "{part}.npz"}}
    )
    latency = tmp_path / "latency"
    latency.mkdir()
    for key in ("p0", "p1"):
        (latency / f"{key}.npz").write_bytes(key.encode())
    recorded = {
        key: {
            "part": key,
            "part_sha256": f"sha-{key}",
            **latency_provenance([latency / f"{key}.npz"]),
        }
        for key in ("p0", "p1")
    }
    assert latency_changes(config, str(tmp_path), recorded, set()) == {}
    assert latency_changes(hft_config, str(tmp_path), recorded, set()) == {}  # constant latency
    (latency / "p0.npz").write_bytes(b"other rows")
    (latency / "p1.npz").unlink()
    assert latency_changes(config, str(tmp_path), recorded, set()) == {
        "p0": "latency file changed",
        "p1": "latency file latency/p1.npz gone",
    }
    assert latency_changes(config, str(tmp_path), recorded, {"p0", "p1"}) == {}
