"""A result is computed from exactly the bytes it names: a part rewritten after it was hashed
and before the engine read it never gives the old hash with the new file's metrics."""

import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import TEST_STRATEGY_MODULES
from support.rewrites_a_part import REWRITE_ON_IMPORT_ENV

from trading_runtime.backtest.fan_out import backtest_part
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.backtest.private_inputs import copy_inputs
from trading_runtime.config import apply_overrides, example_config_path, load_config
from trading_runtime.config.strategy_modules import STRATEGY_MODULES_ENV


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_part_rewritten_during_start_up_is_not_what_the_result_names(
    tmp_path: Path, parts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part, other = parts_dir / "part-00000.npz", parts_dir / "part-00001.npz"
    original = tmp_path / "original" / part.name
    original.parent.mkdir()
    shutil.copyfile(part, original)
    monkeypatch.setenv(STRATEGY_MODULES_ENV, f"{TEST_STRATEGY_MODULES},support.rewrites_a_part")
    monkeypatch.setenv(REWRITE_ON_IMPORT_ENV, f"{other}=>{part}")
    config = apply_overrides(
        load_config(example_config_path("hftbacktest")),
        {"strategy.class_path": "support.rewrites_a_part:strategy"},
    )
    pool = WorkerPool(1)  # a fresh worker: it imports the strategy module (and rewrites) once
    try:
        result = backtest_part(config, part, tmp_path / "out", pool=pool)
        assert sha256(part) == sha256(other)  # the rewrite happened, during start-up
        # The same worker, the module already imported: the original bytes, untouched.
        reference = backtest_part(config, original, tmp_path / "reference", pool=pool)
    finally:
        pool.close()
    # The result names the bytes it was computed from, and its metrics are theirs.
    named = result.provenance["part_sha256"]
    assert named == reference.provenance["part_sha256"] == sha256(original)
    assert result.metrics == reference.metrics
    assert not list(tmp_path.glob(".*.inputs")), "private copies are removed"


def test_private_copies_cover_warm_up_parts_and_latency_files(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    (parts / "latency").mkdir(parents=True)
    for name in ("a", "b"):
        (parts / f"{name}.npz").write_bytes(name.encode())
        (parts / "latency" / f"{name}.npz").write_bytes(b"latency " + name.encode())
    document = load_config(example_config_path("hftbacktest")).model_dump(mode="json")
    document["engine"]["latency"] = {"type": "intp_order_latency", "file": "{part}.npz"}
    from trading_runtime.config import parse_config

    config = parse_config(document, "<test>")
    private = copy_inputs(config, parts / "b.npz", [parts / "a.npz"], tmp_path / "private")
    assert private.part.read_bytes() == b"b" and [p.read_bytes() for p in private.warmup] == [b"a"]
    for name in ("a", "b"):
        copied = private.part.parent / "latency" / f"{name}.npz"
        assert copied.read_bytes() == b"latency " + name.encode()
    (parts / "b.npz").write_bytes(b"changed")  # the copies stay what was copied
    assert private.part.read_bytes() == b"b"
    message = f"part {private.part}: something"
    assert private.named_originally(message) == f"part {parts / 'b.npz'}: something"
