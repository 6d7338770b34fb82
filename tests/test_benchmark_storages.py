"""The main benchmark (``python -m benchmarks``) measures the single-run backfill on SQLite and
PostgreSQL side by side: per-storage rows, ratios and targets in the report (from a hand-made
results dict, no server), PostgreSQL reported as not measured when its server cannot start, and
one end-to-end run at its smallest on the PostgreSQL test server (tests/test_postgres.py), which
asserts the report's rows, not its timings."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import click
import pytest

from benchmarks import cli, harness, postgres
from benchmarks.report import Report
from benchmarks.report_format import ReportData

NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _params(**changes: Any) -> dict[str, Any]:
    """What the command line gives ``cli.build_options``: a tiny run."""
    params: dict[str, Any] = {
        "parts": 2,
        "events": 1000,
        "repeats": 1,
        "workers": 2,
        "seed": 7,
        "many": 10,
        "cli_sample": 1,
        "large_events": 1000,
        "quick": True,
        "cache_dir": Path("/nonexistent"),
        "output": None,
        "child_timeout": 60.0,
        "task_timeout": 60.0,
        "wait_idle": 0.0,
        "no_profile": True,
        "only": "floor,backfill",
        "storages": "sqlite,postgres",
        "postgres_url": None,
        "keep_work": False,
    }
    params.update(changes)
    return params


def _options(**changes: Any) -> Any:
    return cli.build_options(_params(**changes), ["--quick"])


def _child(seconds: dict[str, float], workers: int) -> dict[str, Any]:
    """One backfill or floor child's result: a cold and a warm run of 2 partitions."""
    runs = [
        {
            "label": label,
            "seconds": s,
            "walls": [0.1, 0.1],
            "compiles": min(workers, 2) if label == "cold" else 0,
            "defs_s": 0.2,
            "register_s": 0.01,
            "aggregate_s": 0.3,
            "breakdown": {"steps": {"backtest_results": s / 2}, "run_s": s - 0.1, "n_events": 40},
        }
        for label, s in seconds.items()
    ]
    memory = {"self_max_rss_mb": 300.0, "children_max_rss_mb": 400.0}
    return {"runs": runs, "memory": memory}


def _data(skipped: dict[str, str] | None = None) -> dict[str, Any]:
    """Floor 1.0 s (W=2) and 2.0 s (W=1), cold and warm; SQLite's backfill 0.03 s and
    PostgreSQL's 0.04 s a partition over it: SQLite fails its 0.02 s, PostgreSQL passes 0.05 s."""

    def by_workers(extra: float) -> dict[int, list[dict[str, Any]]]:
        return {w: [_child({"cold": f + extra, "warm": f + extra}, w)] for w, f in ((2, 1), (1, 2))}

    backfill = {"sqlite": by_workers(0.06)}
    if not skipped:
        backfill["postgres"] = by_workers(0.08)
    return {
        "started": "2026-12-03T10:00:00",
        "finished": "2026-12-03T10:01:00",
        "parts_bytes": 2**20,
        "screen": {"screened": 3, "selected": ["a", "b"], "failed": {}},
        "floor": {w: [_child({"cold": f, "warm": f}, w)] for w, f in ((2, 1.0), (1, 2.0))},
        "storages": {
            "measured": list(backfill),
            "skipped": skipped or {},
            "server": None if skipped else "throw-away PostgreSQL 15.8",
        },
        "backfill": backfill,
        "contention": [],
    }


def _targets(text: str) -> dict[str, tuple[str, str, str]]:
    """The *Targets* table: name -> (goal, measured, verdict)."""
    section = text.split("## Targets", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    rows = [line.strip("|").split(" | ") for line in lines]
    return {
        name.strip(): (goal, measured, verdict.strip()) for name, goal, measured, verdict in rows
    }


def test_the_report_has_every_backfill_row_per_storage_and_its_targets() -> None:
    text = Report(_options(), _data()).build()
    for name in NAMES.values():
        for workers in (2, 1):
            for label in ("cold", "warm"):
                assert f"| 2. single-run backfill, {name}, W={workers}, {label} |" in text
            assert f"| single-run backfill, {name}, W={workers} (+ aggregate) |" in text
            assert f"| backfill {name} W={workers} cold | [{workers}] |" in text
        for label in ("cold", "warm"):
            assert re.search(rf"\| {name}, {label} \| 1 s \| [\d.]+ s \| \*\*1\.\d\d\*\* \|", text)
            assert f"#### Single-run backfill, {name}, W=2, {label}: steps" in text
        assert f"| 4. aggregate over 2 partitions, {name} |" in text
    assert "throw-away PostgreSQL 15.8" in text and "not measured" not in text
    targets = _targets(text)
    for label in ("cold", "warm"):
        sqlite = targets[f"SQLite: orchestration per partition in the backfill ({label})"]
        pg = targets[f"PostgreSQL: orchestration per partition in the backfill ({label})"]
        assert sqlite == ("<= 0.02 s", "0.03 s", "**FAIL**")
        assert pg == ("<= 0.05 s", "0.04 s", "PASS")
        for name in NAMES.values():
            assert targets[f"{name}: backfill <= 1.15 x floor ({label})"][0] == "<= 1.15"
            ratio = targets[f"{name}: backfill <= 1.15 x floor ({label})"]
            assert ratio[2] == ("PASS" if float(ratio[1]) <= 1.15 else "**FAIL**")
            speedup = targets[f"{name}: backfill W=2 >= 1.8 x faster than W=1 ({label})"]
            assert speedup[0] == ">= 1.8" and speedup[2] in ("PASS", "**FAIL**")
    assert not any(name.startswith("backfill") for name in targets)  # no storage-less rows


def test_a_postgres_server_that_cannot_start_is_reported_not_left_out() -> None:
    why = "postgres-test-server.sh start failed: error: need root"
    text = Report(_options(), _data(skipped={"postgres": why})).build()
    assert f"**PostgreSQL was not measured**: {why}" in text
    assert "| 2. single-run backfill, PostgreSQL" not in text
    targets = _targets(text)
    pg = {k: v for k, v in targets.items() if k.startswith("PostgreSQL:")}
    assert len(pg) == 6
    assert all(v[1] == f"not measured: {why}" and v[2] == "n/a" for v in pg.values())
    assert targets["SQLite: orchestration per partition in the backfill (warm)"][2] == "**FAIL**"


def test_results_saved_before_the_storages_read_as_sqlite() -> None:
    data = _data()
    data["backfill"] = {str(w): c for w, c in data["backfill"]["sqlite"].items()}  # JSON keys
    del data["storages"]
    v = ReportData(_options(), data)
    assert v.storages == ["sqlite"] and v.skipped_storages == {}
    assert v.seconds("backfill", 2, "warm", "sqlite") == [1.06]


def test_the_storages_option() -> None:
    assert _options().storages == ("sqlite", "postgres")
    assert _options(storages="postgres, sqlite").storages == ("sqlite", "postgres")
    assert _options(storages="sqlite").storages == ("sqlite",)
    with pytest.raises(click.UsageError):
        _options(storages="sqlite,mysql")
    url = "postgresql://dagster:secret@127.0.0.1:5432/dagster"
    options = cli.build_options(_params(postgres_url=url), ["--postgres-url", url])
    assert options.postgres_url == url
    assert "secret" not in options.command and "dagster:***@127.0.0.1" in options.command


def test_the_harness_goes_on_without_a_server_that_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, calls = tmp_path / "no-server.sh", tmp_path / "calls"
    script.write_text(
        f'#!/bin/sh\necho "$1 $2" >>{calls}\n[ "$1" = stop ] && exit 0\n'
        "echo 'error: no initdb' >&2\nexit 1\n"
    )
    script.chmod(0o755)
    monkeypatch.setattr(postgres, "SCRIPT", script)
    with contextlib.ExitStack() as stack:
        found, admin_url = harness._storages(_options(), stack)
    assert admin_url is None and found["measured"] == ["sqlite"]
    assert found["skipped"] == {"postgres": "no-server.sh start failed: error: no initdb"}
    (start, directory), (stop, same) = (line.split() for line in calls.read_text().splitlines())
    assert (start, stop, same) == ("start", "stop", directory)  # stopped even so, and removed:
    assert not Path(directory).exists()


# Generous: fresh processes each import Dagster and compile the strategy, on a shared machine.
@pytest.mark.timeout(900, func_only=True)
def test_the_smallest_run_reports_the_backfill_on_both_storages(
    tmp_path: Path, server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "results.md"
    args = ["--parts", "2", "--events", "4000", "--repeats", "1", "--workers", "2"]
    args += ["--only", "floor,backfill", "--no-profile", "--wait-idle", "0"]
    args += ["--storages", "sqlite,postgres", "--postgres-url", server_url]
    args += ["--cache-dir", str(tmp_path / "cache"), "--output", str(output)]
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 0, capsys.readouterr()
    text = output.read_text()
    assert "Single-run backfill (2) measured on: SQLite, PostgreSQL (given (--postgres-url))" in (
        text
    )
    assert server_url not in text
    for name in NAMES.values():
        for workers in (2, 1):
            for label in ("cold", "warm"):
                row = f"| 2. single-run backfill, {name}, W={workers}, {label} |"
                assert row in text, row
    targets = _targets(text)
    for name in NAMES.values():
        mine = {k: v for k, v in targets.items() if k.startswith(f"{name}: ")}
        assert len(mine) == 6, mine
        assert all(verdict in ("PASS", "**FAIL**") for _, _, verdict in mine.values()), mine
    goals = {k: v[0] for k, v in targets.items() if "orchestration per partition" in k}
    assert set(goals.values()) == {"<= 0.02 s", "<= 0.05 s"}
