"""``python -m benchmarks.sweep_backfill``: its sweep plans into distinct variants, its report
has a row per storage, and at its smallest it runs end to end (slow: two compiles)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import sweep_backfill
from trading_runtime.config import example_config_path, load_config
from trading_runtime.sweeps import plan_variants
from trading_runtime.sweeps.sweep_file import SweepFile

ROOT = Path(__file__).resolve().parent.parent


def test_the_sweep_has_as_many_distinct_variants_as_asked() -> None:
    config = load_config(example_config_path("hftbacktest"))
    points = sweep_backfill.sweep_points(20)
    variants = plan_variants(config, SweepFile(source="t", shape="list", points=tuple(points)))
    assert len({variant.config_hash for variant in variants}) == 20


def test_the_report_has_a_row_per_storage_and_says_what_was_not_measured() -> None:
    args = argparse.Namespace(variants=2, parts=5, events=1000, workers=2)
    rows = [
        {
            "storage": "sqlite",
            "floor": {"seconds": 10.0},
            "materialize": {"seconds": 15.0, "phases": {"a": 2.0, "b": 12.0, "c": 1.0}},
        },
        {"storage": "postgres", "error": "no server"},
    ]
    report = sweep_backfill._report(args, rows)
    assert "| sqlite | 10.0 | 15.0 | 1.50 | 0.5000 s | 1.20 | 2.0 s | 12.0 s | 1.0 s |" in report
    assert "| postgres | not measured: no server |" in report


@pytest.mark.slow
def test_the_smallest_sweep_backfill_runs_end_to_end() -> None:
    arguments = ["--variants", "2", "--parts", "2", "--events", "2000", "--storages", "sqlite"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.sweep_backfill", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| sqlite |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert float(cells[1]) > 0 and float(cells[2]) > float(cells[1]) * 0.5
