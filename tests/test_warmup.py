"""Warm-up parts: the config section, neighbours by first timestamp, and backtests that feed
earlier parts before the scored one and score only the scored part."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetRecordsFilter, instance_for_test
from hftbacktest.types import record_dtype
from support.dagster_runs import run_backtest
from upath import UPath

from trading_runtime.adapters.hftbacktest import bind_strategy
from trading_runtime.backtest.execute import split_record
from trading_runtime.backtest.inputs import keyed_locations
from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.config import (
    BacktestConfig,
    ConfigError,
    apply_overrides,
    example_config_path,
    load_config,
    parse_config,
)
from trading_runtime.data.config_fit import check_inputs
from trading_runtime.data.generate import GeneratorSpec, generate_parts
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.order import (
    WarmupError,
    ordered_parts,
    read_part_start,
    resolve_warmup,
    select_warmup,
)
from trading_runtime.data.parts_store import list_part_keys
from trading_runtime.data.validate import load_part_events, sha256_file, validate_part
from trading_runtime.defs import build_definitions
from trading_runtime.freshness.inputs import stale_inputs, warmup_input_hashes, warmup_inputs_by_key
from trading_runtime.layout import CURVE_FILE, STATS_FILE
from trading_runtime.results import BacktestResult
from trading_runtime.results.metrics import compute_metrics
from trading_runtime.runs.instance import register_parts
from trading_runtime.runs.launch import failure_messages
from trading_runtime.settings import RuntimeSettings

CALIBRATED = "trading_runtime.strategies.calibrated_market_maker:calibrated_market_maker"
WARMUP_EXAMPLE = Path(str(example_config_path("hftbacktest"))).with_name(
    "hftbacktest_warmup_market_maker.json"
)
SAMPLE_PARTS = Path(__file__).resolve().parent.parent / "data" / "parts"
PART_SECONDS = 20  # the generated test parts: 4000 events, a step every ~10 ms


def _config(warmup: dict[str, Any] | None = None, **strategy: Any) -> BacktestConfig:
    """The example config with the calibrated market maker: it quotes only after 25 s of
    history, longer than one generated part."""
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["strategy"] = {
        "class_path": CALIBRATED,
        "interval_ns": 100_000_000,
        "window_steps": 250,
        "min_history_steps": 250,
        **strategy,
    }
    if warmup is not None:
        raw["warmup"] = warmup
    return parse_config(raw, "test")


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup", "message"),
    [
        ({}, "set exactly one of parts"),
        ({"parts": 1, "duration_ns": 5}, "set exactly one of parts"),
        ({"parts": 0}, "warmup.parts: Input should be greater than or equal to 1"),
        ({"duration_ns": -1}, "warmup.duration_ns: Input should be greater than 0"),
        ({"parts": "2"}, "warmup.parts: Input should be a valid integer"),
        ({"parts": 1, "window": 3}, "warmup.window: unknown key"),
    ],
)
def test_the_warmup_section_is_validated(warmup: dict[str, Any], message: str) -> None:
    raw = json.loads(example_config_path("hftbacktest").read_text())
    raw["warmup"] = warmup
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, "cfg.json")


def test_warmup_enters_the_config_hash_and_configs_without_it_keep_theirs() -> None:
    plain = load_config(example_config_path("hftbacktest"))
    assert "warmup" not in json.loads(plain.canonical_json())
    two = apply_overrides(plain, {"warmup.parts": 2})  # an unset section, set by override
    assert two.warmup is not None and two.warmup.parts == 2
    hashes = {
        plain.config_hash(),
        two.config_hash(),
        apply_overrides(plain, {"warmup.parts": 3}).config_hash(),
        apply_overrides(plain, {"warmup.duration_ns": 10**9}).config_hash(),
    }
    assert len(hashes) == 4


def test_scored_start_ts_is_bound_by_name_like_end_ts() -> None:
    def strategy(hbt: Any, recorder: Any, end_ts: int, scored_start_ts: int, k: int = 1) -> None:
        return None

    config = parse_config(
        {
            "id": "binding",
            "engine": {"tick_size": 0.5, "lot_size": 0.01, "depth": {"type": "hash_map"}},
            "strategy": {"class_path": "trading_runtime.strategies.market_maker:market_maker"},
        }
    )
    binding = bind_strategy(strategy, config, 20, 10)
    assert binding.call_arguments("rec") == ("rec", 20, 10, 1)
    assert [source for _, source, _ in binding.arguments] == [
        "recorder",
        "end_ts",
        "scored_start_ts",
        "default",
    ]


# --- neighbours ---------------------------------------------------------------------------------


@pytest.fixture
def shuffled_parts(tmp_path: Path, generated_parts: list[Path]) -> Path:
    """The three contiguous generated parts under names whose order is not their time order."""
    directory = tmp_path / "shuffled"
    directory.mkdir()
    for part, name in zip(generated_parts, ("c-first", "a-second", "b-third"), strict=True):
        shutil.copy2(part, directory / f"{name}.npz")
    (directory / ".hidden.npz").write_bytes(b"not a part name, ignored")
    (directory / "notes.txt").write_text("not a part")
    return directory


def test_parts_are_ordered_by_first_timestamp_not_by_name(shuffled_parts: Path) -> None:
    ordered = ordered_parts(shuffled_parts)
    assert [p.key for p in ordered] == ["c-first", "a-second", "b-third"]
    assert [p.first_exch_ts for p in ordered] == sorted(p.first_exch_ts for p in ordered)
    one = _config({"parts": 1}).warmup
    two = _config({"parts": 2}).warmup
    assert one is not None and two is not None
    assert [p.key for p in select_warmup(one, ordered, "b-third")] == ["a-second"]
    assert [p.key for p in select_warmup(two, ordered, "b-third")] == ["c-first", "a-second"]
    # The location's own directory is searched; keys given by the caller are kept.
    resolved = resolve_warmup(two, {"scored": shuffled_parts / "b-third.npz"})
    assert resolved == {"scored": [ordered[0].location, ordered[1].location]}


def test_a_missing_neighbour_fails_naming_the_part_and_the_need(shuffled_parts: Path) -> None:
    ordered = ordered_parts(shuffled_parts)
    section = _config({"parts": 2}).warmup
    assert section is not None
    with pytest.raises(WarmupError, match=r"part c-first: .* found 0 \(it is the first part"):
        select_warmup(section, ordered, "c-first")
    outcomes = resolve_warmup(section, {k: shuffled_parts / f"{k}.npz" for k in ("a-second",)})
    assert "part a-second: warmup.parts = 2 needs 2 earlier part(s)" in str(outcomes["a-second"])
    assert "found 1" in str(outcomes["a-second"])


def test_a_duration_takes_as_many_parts_as_reach_back_that_far(shuffled_parts: Path) -> None:
    ordered = ordered_parts(shuffled_parts)
    spans = {p.key: p.first_exch_ts for p in ordered}
    one_part = spans["b-third"] - spans["a-second"]
    for duration, expected in (
        (1, ["a-second"]),
        (one_part, ["a-second"]),
        (one_part + 1, ["c-first", "a-second"]),
    ):
        section = _config({"duration_ns": duration}).warmup
        assert section is not None
        assert [p.key for p in select_warmup(section, ordered, "b-third")] == expected
    too_long = _config({"duration_ns": 3600 * 10**9}).warmup
    assert too_long is not None
    with pytest.raises(WarmupError, match=r"part b-third: warmup.duration_ns = .* \(3600 s\)"):
        select_warmup(too_long, ordered, "b-third")


def test_overlapping_and_gapped_inputs_fail_clearly(generated_parts: list[Path]) -> None:
    infos = [validate_part(p) for p in generated_parts]
    section = _config({"parts": 1}).warmup
    assert section is not None
    check_inputs(section, infos)  # contiguous: fine
    late = dataclasses.replace(infos[0], last_exch_ts=infos[1].first_exch_ts + 1)
    with pytest.raises(WarmupError, match="part-00000 overlaps part-00001: its last exch_ts"):
        check_inputs(section, [late, infos[1]])
    late_local = dataclasses.replace(infos[0], last_local_ts=infos[1].first_local_ts + 1)
    with pytest.raises(WarmupError, match="its last local_ts"):
        check_inputs(section, [late_local, infos[1]])
    strict = _config({"parts": 1, "max_gap_ns": 1}).warmup
    assert strict is not None
    with pytest.raises(WarmupError, match="between part-00000 and part-00001, more than"):
        check_inputs(strict, infos[:2])


def test_an_unreadable_part_fails_the_ordering_naming_it(shuffled_parts: Path) -> None:
    (shuffled_parts / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    section = _config({"parts": 1}).warmup
    assert section is not None
    outcomes = resolve_warmup(section, {"b-third": shuffled_parts / "b-third.npz"})
    assert isinstance(outcomes["b-third"], WarmupError)
    assert "cannot order the parts" in str(outcomes["b-third"])
    assert "broken.npz" in str(outcomes["b-third"])


def test_ordering_hundreds_of_parts_reads_only_first_rows(tmp_path: Path) -> None:
    parts = generate_parts(GeneratorSpec(parts=200, events=2_000, seed=5), tmp_path / "many")
    assert read_part_start(parts[0]) == tuple(
        int(load_part_events(parts[0])[0][c]) for c in ("exch_ts", "local_ts")
    )
    started = time.perf_counter()
    ordered = ordered_parts(tmp_path / "many")
    cold = time.perf_counter() - started
    assert [p.key for p in ordered] == [p.stem for p in parts]
    started = time.perf_counter()
    ordered_parts(tmp_path / "many")  # cached by location, size and modification time
    cached = time.perf_counter() - started
    # Measured here: ~0.6 ms a part cold (a full read and validation takes ~28 ms for 100k
    # events), ~10 ms for 300 parts cached; generous bounds for a loaded machine.
    assert cold < 5.0 and cached < 1.0


def test_record_split_at_the_scored_start() -> None:
    record = np.zeros(5, dtype=[("timestamp", "i8"), ("num_trades", "i8")])
    record["timestamp"] = [10, 20, 30, 40, 50]
    baseline, scored = split_record(record, 30)
    assert baseline["timestamp"].tolist() == [20] and scored["timestamp"].tolist() == [30, 40, 50]
    baseline, scored = split_record(record, 5)
    assert len(baseline) == 0 and len(scored) == 5


# --- backtests with warm-up ---------------------------------------------------------------------


def _run(config: BacktestConfig, parts: list[Path], out: Path) -> dict[str, Any]:
    return backtest_and_publish(config, keyed_locations(parts), out, timeout_s=120, workers=2)


@pytest.fixture(scope="module")
def warm_and_cold(
    tmp_path_factory: pytest.TempPathFactory, generated_parts: list[Path]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The calibrated market maker on every generated part, with two parts of warm-up and
    without."""
    out = tmp_path_factory.mktemp("warmup-runs")
    warm = _run(_config({"parts": 2}), generated_parts, out / "warm")
    cold = _run(_config(), generated_parts, out / "cold")
    return warm, cold


def test_warmup_lets_a_calibrating_strategy_trade_the_scored_part(
    warm_and_cold: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    warm, cold = warm_and_cold
    # Without warm-up it is still calibrating when a 20 s part ends (the GLFT: 0 trades).
    assert [cold[k].metrics["trades"] for k in sorted(cold)] == [0, 0, 0]
    result = warm["part-00002"]
    assert isinstance(result, BacktestResult)
    assert result.metrics["trades"] > 0
    for key, found in (("part-00000", 0), ("part-00001", 1)):
        assert isinstance(warm[key], WarmupError)
        assert f"part {key}: warmup.parts = 2 needs 2 earlier part(s)" in str(warm[key])
        assert f"found {found}" in str(warm[key])


def test_the_record_and_metrics_cover_the_scored_part_only(
    warm_and_cold: tuple[dict[str, Any], dict[str, Any]], generated_parts: list[Path]
) -> None:
    result = warm_and_cold[0]["part-00002"]
    scored = validate_part(generated_parts[2])
    record = np.load(result.directory / STATS_FILE)["0"]
    curve = pq.read_table(result.directory / CURVE_FILE)
    assert len(record) == curve.num_rows == result.metrics["records"] > 0
    assert record["timestamp"].min() >= scored.first_local_ts
    assert record["timestamp"].max() <= scored.last_local_ts
    assert result.metrics["data_coverage"] > 0.95
    # The engine's cumulative values are kept: the warm-up's trades are in the first row (the
    # strategy starts quoting 25 s into the 40 s warm-up), and the metrics leave them out.
    assert record["num_trades"][0] > 0
    assert result.metrics["trades"] < record["num_trades"][-1]
    assert result.metrics["trades"] >= record["num_trades"][-1] - record["num_trades"][0]
    assert result.provenance["scored_start_ts"] == scored.first_local_ts


def test_metrics_count_from_the_baseline_row() -> None:
    record = np.zeros(3, dtype=record_dtype)
    record["timestamp"] = np.array([1, 2, 3]) * 10**9
    record["price"] = 100.0
    record["position"] = 1.0  # carried in from the warm-up
    record["balance"] = -100.0
    record["num_trades"] = [7, 8, 9]
    baseline = record[:1].copy()
    baseline["price"], baseline["num_trades"] = 90.0, 5
    metrics = compute_metrics(record, 1.0, None, (10**9, 3 * 10**9), baseline)
    # The carried position is marked at the baseline's price: its move counts, warm-up fills not.
    assert metrics["pnl"] == pytest.approx(10.0)
    assert metrics["trades"] == 4 and metrics["records"] == 3


def test_provenance_lists_every_input_in_order_with_its_role(
    warm_and_cold: tuple[dict[str, Any], dict[str, Any]], generated_parts: list[Path]
) -> None:
    provenance = warm_and_cold[0]["part-00002"].provenance
    assert provenance["inputs"] == [
        {"part": p.stem, "sha256": sha256_file(p), "role": role}
        for p, role in zip(generated_parts, ("warmup", "warmup", "scored"), strict=True)
    ]
    assert provenance["part_sha256"] == sha256_file(generated_parts[2])
    cold = warm_and_cold[1]["part-00002"].provenance
    assert cold["inputs"] == [
        {"part": "part-00002", "sha256": cold["part_sha256"], "role": "scored"}
    ]
    assert cold["inputs_sha256"] != provenance["inputs_sha256"]


def test_same_inputs_same_content_and_a_changed_warmup_part_changes_it(
    tmp_path: Path,
    parts_dir: Path,
    warm_and_cold: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    config = _config({"parts": 2})
    scored = [parts_dir / "part-00002.npz"]
    again = _run(config, scored, tmp_path / "again")["part-00002"]
    first = warm_and_cold[0]["part-00002"]
    assert again.content_hash == first.content_hash
    assert again.provenance["files"] == first.provenance["files"]  # the same bytes
    assert again.metrics == first.metrics
    before = warmup_input_hashes(config, parts_dir, "part-00002")
    assert before == [(e["part"], e["sha256"]) for e in first.provenance["inputs"]]

    # Change one quantity in the first warm-up part: same times, other bytes.
    events = load_part_events(parts_dir / "part-00000.npz")
    events["qty"][-1] += 0.01
    write_npz_deterministic(parts_dir / "part-00000.npz", {"data": events})
    changed = _run(config, scored, tmp_path / "changed")["part-00002"]
    assert changed.provenance["part_sha256"] == first.provenance["part_sha256"]
    assert changed.provenance["inputs"][0]["sha256"] != first.provenance["inputs"][0]["sha256"]
    assert changed.content_hash != first.content_hash
    # What a staleness check compares with the stored result's inputs.
    after = warmup_input_hashes(config, parts_dir, "part-00002")
    assert after != before
    assert after == [(e["part"], e["sha256"]) for e in changed.provenance["inputs"]]
    batch = warmup_inputs_by_key(config, parts_dir, ["part-00000", "part-00002"])
    assert isinstance(batch["part-00000"], WarmupError) and batch["part-00002"] == after
    assert stale_inputs(config, parts_dir, {"part-00002": changed.provenance}) == {}
    assert stale_inputs(config, parts_dir, {"part-00002": first.provenance}) == {
        "part-00002": "input(s) changed since the result: part-00000"
    }
    # Without warm-up, the part alone: the result stored with warm-up used other inputs.
    plain = _config()
    reason = stale_inputs(plain, parts_dir, {"part-00002": first.provenance})["part-00002"]
    assert reason.startswith("inputs are now part-00002 (the result used part-00000, part-00001")


def test_an_overlapping_neighbour_fails_the_part_in_the_worker(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    directory = tmp_path / "overlap"
    directory.mkdir()
    shutil.copy2(generated_parts[1], directory / "scored.npz")
    # A neighbour that starts before the scored part but ends inside it.
    events = load_part_events(generated_parts[0])
    shift = int(load_part_events(generated_parts[1])["exch_ts"][100] - events["exch_ts"][-1])
    events["exch_ts"] += shift
    events["local_ts"] += shift
    write_npz_deterministic(directory / "earlier.npz", {"data": events})
    outcome = _run(_config({"parts": 1}), [directory / "scored.npz"], tmp_path / "out")["scored"]
    assert isinstance(outcome, WarmupError)
    assert "part scored: warm-up input earlier overlaps scored" in str(outcome)


def test_the_warmup_example_trades_the_sample_parts_only_with_warmup(tmp_path: Path) -> None:
    """The example config on the committed 75 s sample parts: the strategy calibrates over 80 s,
    so without warm-up it never quotes; with 80 s of warm-up the last part trades."""
    config = load_config(WARMUP_EXAMPLE)
    assert config.warmup is not None and config.warmup.duration_ns == 80 * 10**9
    parts = sorted(SAMPLE_PARTS.glob("*.npz"))
    warm = _run(config, parts, tmp_path / "warm")
    assert all(isinstance(warm[k], WarmupError) for k in ("part-00000", "part-00001"))
    assert "needs earlier parts reaching back" in str(warm["part-00001"])
    assert warm["part-00002"].metrics["trades"] > 0
    assert [i["part"] for i in warm["part-00002"].provenance["inputs"]] == [p.stem for p in parts]
    cold = _run(apply_overrides(config, {"warmup": None}), parts[2:], tmp_path / "cold")
    assert cold["part-00002"].metrics["trades"] == 0


def test_warmup_parts_on_an_object_store_give_the_local_result(
    s3: tuple[Any, str],
    generated_parts: list[Path],
    warm_and_cold: tuple[dict[str, Any], dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Parts under an S3 prefix (moto on loopback): neighbours are ordered from ranged reads of
    their first rows, downloaded for the worker like the scored part, and give the bytes a local
    run gives."""
    fs, prefix = s3
    for part in generated_parts:
        fs.put_file(str(part), f"{prefix}/parts/{part.name}")
    remote = UPath(f"s3://{prefix}/parts")
    assert [p.key for p in ordered_parts(remote)] == [p.stem for p in generated_parts]
    outcome = _run(_config({"parts": 2}), [remote / "part-00002.npz"], tmp_path / "out")
    result = outcome["part-00002"]
    assert isinstance(result, BacktestResult)
    local = warm_and_cold[0]["part-00002"]
    assert result.provenance["inputs"] == local.provenance["inputs"]
    assert result.content_hash == local.content_hash
    assert not list((tmp_path / "out").glob("**/*.npz.*"))  # no download left behind


def test_a_dagster_partition_runs_with_its_warmup(
    tmp_path: Path, settings: RuntimeSettings
) -> None:
    """The asset's path: the partition's part from the parts directory, its neighbours from the
    same directory; the inputs' digest is a result input in the metadata."""
    config_path = tmp_path / "warmup.json"
    config_path.write_text(_config({"parts": 2}).model_dump_json())
    settings = settings.model_copy(update={"config": str(config_path)})
    with instance_for_test() as instance:
        keys = list_part_keys(settings.parts_dir)
        register_parts(instance, keys)
        defs = build_definitions(settings)
        assert run_backtest(defs, instance, "part-00002").success
        failed = run_backtest(defs, instance, "part-00001")
        assert not failed.success
        assert "warmup.parts = 2 needs 2 earlier part(s)" in " ".join(failure_messages(failed))
        records = instance.fetch_materializations(
            AssetRecordsFilter(
                asset_key=AssetKey("backtest_results"), asset_partitions=["part-00002|base"]
            ),
            limit=1,
        ).records
    metadata = records[0].asset_materialization.metadata
    stored = BacktestResult.load(Path(settings.results) / "backtest_results" / "part-00002")
    assert metadata["inputs_sha256"].value == stored.provenance["inputs_sha256"]
    assert [i["role"] for i in stored.provenance["inputs"]] == ["warmup", "warmup", "scored"]
