"""Operational errors are one line through the CLI: bad settings name the variable and what is
expected; an invalid dagster.yaml names the file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trading_runtime.config import example_config_path

CLI = [sys.executable, "-m", "trading_runtime"]


def run_cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_RUNTIME_")}
    environ["TRADING_RUNTIME_STRATEGY_MODULES"] = os.environ["TRADING_RUNTIME_STRATEGY_MODULES"]
    environ.update(env)
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def error_lines(stderr: str) -> list[str]:
    """stderr without click's usage lines."""
    return [
        line for line in stderr.splitlines() if line and not line.startswith(("Usage:", "Try "))
    ]


COMMANDS = [
    ["backtest", "--config", str(example_config_path("hftbacktest")), "--out", "out"],
    ["aggregate"],  # without --results it reads TRADING_RUNTIME_RESULTS
    ["materialize"],
]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TRADING_RUNTIME_WORKERS", "many", "TRADING_RUNTIME_WORKERS"),
        ("TRADING_RUNTIME_WORKERS", "0", "TRADING_RUNTIME_WORKERS"),
        ("TRADING_RUNTIME_TIMEOUT_S", "soon", "TRADING_RUNTIME_TIMEOUT_S"),
        ("TRADING_RUNTIME_TIMEOUT_S", "-5", "TRADING_RUNTIME_TIMEOUT_S"),
    ],
)
def test_bad_settings_are_one_line_for_every_command(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    for command in COMMANDS:
        run = run_cli(command, tmp_path, **{variable: value, "DAGSTER_HOME": str(tmp_path / "h")})
        lines = error_lines(run.stderr)
        assert run.returncode != 0, (command, run.stderr)
        assert len(lines) == 1, (command, run.stderr)
        assert expected in lines[0] and value in lines[0], (command, lines[0])


def test_invalid_dagster_yaml_is_one_line_naming_the_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_storage:\n  module: [not, a, module]\n  nonsense: 1\n")
    run = run_cli(["materialize"], tmp_path, DAGSTER_HOME=str(home))
    lines = error_lines(run.stderr)
    assert run.returncode != 0
    assert len(lines) == 1, run.stderr
    assert str(home / "dagster.yaml") in lines[0]
    (home / "dagster.yaml").write_text("run_storage: [unclosed\n")  # not even YAML
    run = run_cli(["materialize"], tmp_path, DAGSTER_HOME=str(home))
    lines = error_lines(run.stderr)
    assert run.returncode != 0 and len(lines) == 1, run.stderr
    assert str(home / "dagster.yaml") in lines[0]
