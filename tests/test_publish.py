"""Publishing a result: atomic for readers and safe with concurrent writers (local disk)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from support.publishing import make_variant, publish_concurrently
from upath import UPath

from trading_runtime.layout import RESULT_FILE, VERSIONS_DIR
from trading_runtime.results import BacktestResult
from trading_runtime.results import store as storage
from trading_runtime.results.store import publish_result_files, stored_result_keys

PARTITIONS = ["part-a", "part-b", "part-c"]


def test_concurrent_writers_leave_one_complete_result_and_readers_never_see_a_partial_one(
    tmp_path: Path,
) -> None:
    base = tmp_path / "results" / "backtest_results"
    hashes, watch = publish_concurrently(str(base), PARTITIONS, tmp_path, writers=4, rounds=40)

    assert watch.problems == []
    assert watch.reads > 0
    assert stored_result_keys(tmp_path / "results") == PARTITIONS
    for partition in PARTITIONS:
        result = BacktestResult.load(base / partition)
        result.verify()
        assert result.content_hash in hashes
        # Nothing but the pointer and complete versions: no temp files, no half-moved dirs.
        assert sorted(p.name for p in (base / partition).iterdir()) == [RESULT_FILE, VERSIONS_DIR]
        versions = sorted((base / partition / VERSIONS_DIR).iterdir())
        assert 1 <= len(versions) <= 2  # content-addressed: two variants, two versions at most
        for version in versions:
            assert sorted(p.name for p in version.iterdir()) == [
                "curve.parquet",
                RESULT_FILE,
                "stats.npz",
            ]
    assert list((tmp_path / "scratch").iterdir()) == []  # every staged copy was moved


def test_previous_result_stays_until_the_new_one_is_complete_and_old_versions_expire(
    tmp_path: Path,
) -> None:
    part = UPath(tmp_path / "backtest_results" / "part-a")
    first = make_variant(tmp_path / "one", seed=1)
    second = make_variant(tmp_path / "two", seed=2)
    third = make_variant(tmp_path / "three", seed=3)
    v1 = publish_result_files(tmp_path / "one", part)
    assert BacktestResult.load(part).content_hash == first

    (tmp_path / "two-copy").mkdir()  # identical bytes, republished at the end
    for file in (tmp_path / "two").iterdir():
        (tmp_path / "two-copy" / file.name).write_bytes(file.read_bytes())
    reader_view = BacktestResult.load(part)
    v2 = publish_result_files(tmp_path / "two", part)
    assert BacktestResult.load(part).content_hash == second
    reader_view.verify()  # a reader holding the old pointer can still read its files

    # Superseded versions older than the grace period go; the current and previous stay.
    old = time.time() - 3600
    os.utime(Path(part.path) / VERSIONS_DIR / v1, (old, old))
    v3 = publish_result_files(tmp_path / "three", part, grace_s=60)
    assert BacktestResult.load(part).content_hash == third
    assert sorted(p.name for p in (Path(part.path) / VERSIONS_DIR).iterdir()) == sorted([v2, v3])
    # Republishing identical bytes reuses the stored version.
    assert publish_result_files(tmp_path / "two-copy", part) == v2


def test_a_legacy_result_is_replaced_whole(tmp_path: Path) -> None:
    part = tmp_path / "backtest_results" / "part-a"
    make_variant(part, seed=1)  # files directly in the partition directory (before versions)
    legacy = BacktestResult.load(part)
    assert legacy.directory == part
    legacy.verify()
    make_variant(tmp_path / "new", seed=2)
    publish_result_files(tmp_path / "new", UPath(part))
    assert sorted(p.name for p in part.iterdir()) == [RESULT_FILE, VERSIONS_DIR]
    BacktestResult.load(part).verify()


def test_a_version_keeps_its_grace_from_when_it_was_superseded(tmp_path: Path) -> None:
    part = UPath(tmp_path / "backtest_results" / "part-a")
    for seed in (1, 2, 3):
        make_variant(tmp_path / f"v{seed}", seed=seed)
    v1 = publish_result_files(tmp_path / "v1", part)
    old = time.time() - 3600  # stored long ago, current until now
    os.utime(Path(part.path) / VERSIONS_DIR / v1, (old, old))
    reader_view = BacktestResult.load(part)
    publish_result_files(tmp_path / "v2", part, grace_s=60)
    publish_result_files(tmp_path / "v3", part, grace_s=60)  # two publishes in a row
    reader_view.verify()  # superseded a moment ago: still there for the reader


def test_a_version_removed_while_a_writer_reuses_it_is_stored_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = UPath(tmp_path / "backtest_results" / "part-a")
    make_variant(tmp_path / "first", seed=1)
    version = publish_result_files(tmp_path / "first", part)
    make_variant(tmp_path / "again", seed=1)  # identical bytes: the writer reuses the version
    write_pointer = storage._write_pointer_local

    def pruned_just_before(part_dir: Path, pointer: bytes) -> None:
        shutil.rmtree(part_dir / VERSIONS_DIR / version)  # a pruner's rename + delete
        write_pointer(part_dir, pointer)

    monkeypatch.setattr(storage, "_write_pointer_local", pruned_just_before)
    assert publish_result_files(tmp_path / "again", part) == version
    BacktestResult.load(part).verify()
