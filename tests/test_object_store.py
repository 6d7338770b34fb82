"""Parts and results in an S3-compatible object store, at the protocol level: moto's S3 server on
loopback, s3fs through UPath, exactly as pods use it on a cluster (they share no disk).

Also: the per-partition entrypoint that Argo pods run (`trading-runtime backtest` + `aggregate`)
gives the same bytes as Dagster's materialization of the same part and config.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.parquet as pq
from click.testing import CliRunner
from dagster import instance_for_test
from support.dagster_runs import run_backtest_range
from support.publishing import publish_concurrently
from upath import UPath

from trading_runtime.cli import main
from trading_runtime.config import example_config_path
from trading_runtime.data.parts_store import list_part_keys
from trading_runtime.defs import build_definitions
from trading_runtime.layout import part_key
from trading_runtime.results import BacktestResult
from trading_runtime.runs.instance import register_parts
from trading_runtime.runs.launch import run_aggregate
from trading_runtime.settings import RuntimeSettings

RESULT_FILES = ["chart.png", "curve.parquet", "result.json", "stats.npz"]
# The synthetic results of tests/support/publishing.py (random bytes, no chart).
SYNTHETIC_RESULT_FILES = ["curve.parquet", "result.json", "stats.npz"]


def _upload_parts(fs: Any, generated_parts: list[Path], prefix: str) -> list[str]:
    for part in generated_parts:
        fs.put_file(str(part), f"{prefix}/parts/{part.name}")
    return sorted(part_key(part) for part in generated_parts)


def _materialize_all(settings: RuntimeSettings, keys: list[str]) -> Any:
    with instance_for_test() as instance:
        register_parts(instance, keys)
        defs = build_definitions(settings)
        backfill = run_backtest_range(defs, instance, keys)
        assert backfill.success
        aggregate = run_aggregate(defs.resolve_job_def("aggregate"), instance)
        assert aggregate.success
        return aggregate.asset_materializations_for_node("aggregate_metrics")[0]


def test_dagster_reads_parts_and_stores_results_in_the_object_store(
    s3: tuple[Any, str], generated_parts: list[Path], pool: Any
) -> None:
    fs, prefix = s3
    keys = _upload_parts(fs, generated_parts, prefix)
    settings = RuntimeSettings(
        env="k8s",
        parts_dir=f"s3://{prefix}/parts",
        results=f"s3://{prefix}/results",
        config=str(example_config_path("hftbacktest")),
        timeout_s=120,
        workers=2,
    )
    assert list_part_keys(settings.parts_dir) == keys  # what the sensor registers

    materialization = _materialize_all(settings, keys)

    for key in keys:
        stored = sorted(fs.ls(f"{prefix}/results/backtest_results/{key}", detail=False))
        assert [name.rsplit("/", 1)[1] for name in stored] == ["result.json", "versions"]
        result = BacktestResult.load(UPath(f"s3://{prefix}/results/backtest_results/{key}"))
        (version,) = fs.ls(f"{prefix}/results/backtest_results/{key}/versions", detail=False)
        assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(version, detail=False)) == RESULT_FILES
        result.verify()  # the pointer's file hashes match what is stored
    with fs.open(f"{prefix}/results/aggregate_metrics.parquet", "rb") as handle:
        table = pq.read_table(handle)
    assert table["partition"].to_pylist() == [*keys, "TOTAL"]
    assert all(n > 0 for n in table["n_events"].to_pylist())
    assert materialization.metadata["parts"].value == len(keys)
    assert materialization.metadata["parts_without_result"].value == 0


def test_argo_entrypoint_gives_the_bytes_dagster_stores(
    s3: tuple[Any, str], generated_parts: list[Path], pool: Any, tmp_path: Path
) -> None:
    """Section 5: wherever a partition runs (Dagster asset or an Argo pod running the CLI), the
    stored result and the aggregate are byte-identical."""
    fs, prefix = s3
    keys = _upload_parts(fs, generated_parts, prefix)
    config = str(example_config_path("hftbacktest"))
    settings = RuntimeSettings(
        env="local",
        parts_dir=str(generated_parts[0].parent),
        results=str(tmp_path / "dagster-results"),
        config=config,
        timeout_s=120,
        workers=2,
    )
    _materialize_all(settings, keys)

    runner = CliRunner()
    argo_results = f"s3://{prefix}/argo"
    for key in keys:  # one pod per part, as the Argo fan-out runs them
        pod = runner.invoke(
            main,
            [
                "backtest",
                "--config",
                config,
                "--part",
                f"s3://{prefix}/parts/{key}.npz",
                "--out",
                f"{argo_results}/backtest_results",
                "--workers",
                "1",
            ],
        )
        assert pod.exit_code == 0, pod.output
    aggregate = runner.invoke(main, ["aggregate", "--results", argo_results])
    assert aggregate.exit_code == 0, aggregate.output
    assert "TOTAL" in aggregate.output

    dagster_base = Path(settings.results)
    for key in keys:
        # The same result: equal content hashes (canonical form), and here, on data without
        # order-sensitive fills, the same stored version of identical bytes.
        argo = BacktestResult.load(UPath(f"s3://{prefix}/argo/backtest_results/{key}"))
        dagster = BacktestResult.load(dagster_base / "backtest_results" / key)
        assert argo.content_hash == dagster.content_hash
        assert argo.provenance["files"] == dagster.provenance["files"]
        assert PurePosixPath(argo.directory.path).name == Path(dagster.directory).name
    assert (
        fs.cat_file(f"{prefix}/argo/aggregate_metrics.parquet")
        == (dagster_base / "aggregate_metrics.parquet").read_bytes()
    )


def test_missing_remote_part_is_named_and_nothing_is_written(s3: tuple[Any, str]) -> None:
    fs, prefix = s3
    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--config",
            str(example_config_path("hftbacktest")),
            "--part",
            f"s3://{prefix}/parts/nope.npz",
            "--out",
            f"s3://{prefix}/out",
        ],
    )
    assert result.exit_code != 0
    assert f"{prefix}/parts/nope.npz: file does not exist" in result.output
    assert not fs.exists(f"{prefix}/out")


def test_aggregate_without_results_fails_clearly(s3: tuple[Any, str]) -> None:
    _, prefix = s3
    result = CliRunner().invoke(main, ["aggregate", "--results", f"s3://{prefix}/empty"])
    assert result.exit_code != 0
    assert f"no stored results under s3://{prefix}/empty/backtest_results/" in result.output


def test_concurrent_writers_on_the_object_store_leave_one_complete_result(
    s3: tuple[Any, str], tmp_path: Path
) -> None:
    """Publishing is one PUT of the pointer after a complete version: readers never see a
    partial result, writers never interleave files."""
    fs, prefix = s3
    partitions = ["part-a", "part-b"]
    base = f"s3://{prefix}/results/backtest_results"
    hashes, watch = publish_concurrently(base, partitions, tmp_path, writers=3, rounds=6)
    assert watch.problems == []
    assert watch.reads > 0
    for partition in partitions:
        result = BacktestResult.load(UPath(f"{base}/{partition}"))
        result.verify()
        assert result.content_hash in hashes
        listed = sorted(
            p.rsplit("/", 1)[1] for p in fs.ls(f"{prefix}/results/backtest_results/{partition}")
        )
        assert listed == ["result.json", "versions"]
        for version in fs.ls(f"{prefix}/results/backtest_results/{partition}/versions"):
            names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(version))
            assert [n for n in names if n != ".superseded"] == SYNTHETIC_RESULT_FILES
