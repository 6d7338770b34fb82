"""Faults on the results disk: one clear line per failure, and nothing stored is lost.

A read-only or full disk is made for real (a read-only bind mount, a tiny tmpfs); root can
write through file permissions, so they cannot stand in for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from trading_runtime.cli import main
from trading_runtime.config import example_config_path
from trading_runtime.results import BacktestResult

CONFIG = str(example_config_path("hftbacktest"))


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}); needs root with CAP_SYS_ADMIN")


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def _read_only_copy(source: Path, point: Path, mounts: list[Path]) -> Path:
    point.mkdir()
    _mount("--bind", str(source), str(point))
    mounts.append(point)
    _mount("-o", "remount,bind,ro", str(point))
    return point


def _backtest(out: Path, parts: list[Path]) -> object:
    args = ["backtest", "--config", CONFIG, "--out", str(out), *[f"--part={p}" for p in parts]]
    return CliRunner().invoke(main, args)


def test_backtest_into_a_read_only_directory_fails_in_one_line_and_keeps_the_results(
    tmp_path: Path, parts_dir: Path, mounts: list[Path]
) -> None:
    parts = sorted(parts_dir.glob("*.npz"))
    writable = tmp_path / "results"
    assert _backtest(writable, parts[:1]).exit_code == 0  # type: ignore[attr-defined]
    before = BacktestResult.load(writable / "part-00000")
    read_only = _read_only_copy(writable, tmp_path / "ro", mounts)

    result = _backtest(read_only, parts)
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "Traceback" not in output
    (line,) = [ln for ln in output.splitlines() if "Read-only file system" in ln]
    assert line.startswith("Error: cannot write ") and str(read_only) in line
    after = BacktestResult.load(read_only / "part-00000")
    assert (after.metrics, after.provenance) == (before.metrics, before.provenance)
    after.verify()


def test_aggregate_on_a_full_disk_fails_in_one_line_and_keeps_the_previous_table(
    tmp_path: Path, parts_dir: Path, mounts: list[Path]
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk))
    mounts.append(disk)
    assert _backtest(disk / "backtest_results", sorted(parts_dir.glob("*.npz"))).exit_code == 0  # type: ignore[attr-defined]
    first = CliRunner().invoke(main, ["aggregate", "--results", str(disk)])
    assert first.exit_code == 0, first.output
    table = (disk / "aggregate_metrics.parquet").read_bytes()
    filler = disk / "filler"
    with open(filler, "wb") as handle, pytest.raises(OSError):
        while True:  # until the disk is full
            handle.write(b"\0" * (1 << 16))
            handle.flush()
            os.fsync(handle.fileno())
    result = CliRunner().invoke(main, ["aggregate", "--results", str(disk)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert "cannot write" in line and "No space left on device" in line
    assert (disk / "aggregate_metrics.parquet").read_bytes() == table  # intact
    assert not list(disk.glob(".aggregate_metrics.parquet.*"))  # no half-written temp file


def test_dagster_path_reports_each_failure_once_in_one_line(
    tmp_path: Path, parts_dir: Path, mounts: list[Path]
) -> None:
    (tmp_path / "results").mkdir()
    read_only = _read_only_copy(tmp_path / "results", tmp_path / "ro", mounts)
    (parts_dir / "broken.npz").write_bytes(b"not an npz")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(read_only),
        "TRADING_RUNTIME_WORKERS": "1",
    }
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [sys.executable, "-m", "trading_runtime", "materialize"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "Stack Trace" not in output
    failed = [line for line in output.splitlines() if " FAILED " in line]
    assert len(failed) == 4, output  # one line per partition, nothing printed twice
    (broken,) = [line for line in failed if "FAILED broken:" in line]
    assert "broken.npz" in broken
    for key in ("part-00000", "part-00001", "part-00002"):
        (line,) = [ln for ln in failed if f"FAILED {key}:" in ln]
        assert "cannot write" in line and "Read-only file system" in line, line
