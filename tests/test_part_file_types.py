"""Only regular files are parts: a FIFO, a device or a directory named like a part is refused by
its type, with one line each, before anything opens it (a FIFO would block the reader forever)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trading_runtime.config import example_config_path
from trading_runtime.data.files import regular_file_problem
from trading_runtime.data.parts_store import scan_parts

CLI = [sys.executable, "-m", "trading_runtime"]
# Generous for a loaded machine; a FIFO read blocks forever, so any bound shows the hang.
BOUND_S = 240


def odd_parts(directory: Path) -> tuple[Path, Path]:
    """A FIFO and a directory, both named like parts."""
    fifo, folder = directory / "fifo.npz", directory / "folder.npz"
    os.mkfifo(fifo)
    folder.mkdir()
    return fifo, folder


def run_cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **env}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=BOUND_S
    )


def test_the_type_is_named(tmp_path: Path) -> None:
    fifo, folder = odd_parts(tmp_path)
    assert "FIFO" in str(regular_file_problem(fifo))
    assert "directory" in str(regular_file_problem(folder))
    assert "character device" in str(regular_file_problem(Path("/dev/null")))
    assert "does not exist" in str(regular_file_problem(tmp_path / "missing.npz"))
    listing = scan_parts(tmp_path)
    assert listing.keys == [] and set(listing.refused) == {"fifo.npz", "folder.npz"}


def test_data_validate_refuses_by_type(tmp_path: Path) -> None:
    fifo, folder = odd_parts(tmp_path)
    run = run_cli(["data", "validate", str(fifo), str(folder), "/dev/zero"], tmp_path)
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 3, run.stderr
    assert "FIFO" in lines[0] and str(fifo) in lines[0]
    assert "directory" in lines[1] and str(folder) in lines[1]
    assert "character device" in lines[2]


@pytest.mark.timeout(900)  # hang guards of BOUND_S per CLI process, start-up included
def test_backtest_refuses_by_type(tmp_path: Path, parts_dir: Path) -> None:
    fifo, folder = odd_parts(tmp_path)
    config = str(example_config_path("hftbacktest"))
    named = run_cli(
        ["backtest", "--config", config, f"--part={fifo}", f"--part={folder}", "--out", "out"],
        tmp_path,
    )
    assert named.returncode == 1
    failed = [line for line in named.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2, named.stderr
    assert "FIFO" in failed[0] + failed[1] and "directory" in failed[0] + failed[1]
    # From the parts directory: refused when listed, never opened.
    odd_parts(parts_dir)
    for part in sorted(parts_dir.glob("part-*.npz"))[1:]:
        part.unlink()
    listed = run_cli(
        ["backtest", "--config", config, "--out", "out"],
        tmp_path,
        TRADING_RUNTIME_PARTS_DIR=str(parts_dir),
    )
    assert listed.returncode == 1
    assert "ok     part-00000" in listed.stdout
    refused = [line for line in listed.stderr.splitlines() if line.startswith("REFUSED")]
    assert len(refused) == 2 and "FIFO" in refused[0] + refused[1], listed.stderr


@pytest.mark.timeout(900)  # hang guards of BOUND_S per CLI process, start-up included
def test_materialize_planning_never_opens_a_fifo(tmp_path: Path, parts_dir: Path) -> None:
    """A FIFO and a directory beside a part; then the part itself, already backtested, replaced
    by a FIFO (the plan hashes a known part's file to see whether it changed: it used to block
    there forever)."""
    for part in sorted(parts_dir.glob("part-*.npz"))[1:]:
        part.unlink()
    odd_parts(parts_dir)
    env = {
        "DAGSTER_HOME": str(tmp_path / "home"),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
    }
    run = run_cli(["materialize"], tmp_path, **env)
    assert run.returncode == 1, run.stderr
    assert "[1/1] ok     part-00000" in run.stdout
    refused = [line for line in run.stderr.splitlines() if line.startswith("REFUSED")]
    assert len(refused) == 2 and "FIFO" in refused[0] + refused[1], run.stderr
    (parts_dir / "part-00000.npz").unlink()
    os.mkfifo(parts_dir / "part-00000.npz")
    run = run_cli(["materialize"], tmp_path, **env)
    assert run.returncode == 1, run.stderr
    refused = [line for line in run.stderr.splitlines() if line.startswith("REFUSED")]
    assert any("part-00000.npz" in line and "FIFO" in line for line in refused), run.stderr
