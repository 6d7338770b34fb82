"""Several `trading-runtime materialize` started at once on one instance leave it usable."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli_processes import MATERIALIZE, alembic_heads, cli_env

STARTS = 4
ROUNDS = 3

# `trading-runtime materialize` with its imports done before a common start signal (a file
# appearing): processes started "at once" by hand are skewed by their imports, which mostly
# hides the race; this way every round hits it.
AT_ONCE = """
import sys, time
from pathlib import Path
import dagster, trading_runtime.defs, trading_runtime.runs.launch
from trading_runtime.cli import main
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.002)
main(["materialize"])
"""


@pytest.mark.slow  # end to end: 15 fresh CLI processes, 12 of them compiling the strategy
@pytest.mark.timeout(1800)  # hang guard only: the start-ups and compiles are not measured
def test_materialize_started_four_times_at_once_on_a_fresh_home_leaves_one_schema_head(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    for round_ in range(ROUNDS):
        work = tmp_path / f"round-{round_}"
        work.mkdir()
        env = cli_env(work, generated_parts[:1])
        go = work / "go"
        starts = [
            subprocess.Popen(
                [sys.executable, "-c", AT_ONCE, str(go)],
                env=env,
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(STARTS)
        ]
        time.sleep(15)  # the imports (bounded by communicate's timeout below)
        go.touch()
        outputs = [start.communicate(timeout=600) for start in starts]
        for start, (_, stderr) in zip(starts, outputs, strict=True):
            assert start.returncode == 0, f"round {round_}: {stderr[-2000:]}"
        heads = alembic_heads(Path(env["DAGSTER_HOME"]))
        assert heads and set(heads.values()) == {1}, f"round {round_}: {heads}"
        # A later command works on the instance they made: nothing left to do.
        later = subprocess.run(
            MATERIALIZE, env=env, cwd=work, capture_output=True, text=True, timeout=600
        )
        assert later.returncode == 0, later.stderr[-2000:]
        assert "more than one head" not in later.stderr
        assert "1 partition(s) up to date, 0 to backtest" in later.stdout


def test_keys_another_process_added_meanwhile_are_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race the test above hits at random, made certain: between Dagster's read of the
    existing keys and its insert, another process inserts one of them."""
    from dagster import DagsterInstance
    from sqlalchemy.exc import IntegrityError

    from trading_runtime.defs import partitions
    from trading_runtime.runs.instance import register_partitions

    with DagsterInstance.ephemeral() as instance:
        add = instance.add_dynamic_partitions
        raced: list[str] = []

        def racing(name: str, keys: list[str]) -> None:
            if not raced:  # the other process's insert lands first; ours then fails on the key
                raced.append(keys[0])
                add(name, [keys[0]])
                raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))
            add(name, keys)

        monkeypatch.setattr(instance, "add_dynamic_partitions", racing)
        assert register_partitions(instance, ["a", "b"], "variants") == ["a", "b"]
        assert instance.get_dynamic_partitions("variants") == ["a", "b"]
        assert raced == ["a"]

        def always(name: str, keys: list[str]) -> None:
            raise IntegrityError("INSERT", {}, Exception("something else"))

        monkeypatch.setattr(instance, "add_dynamic_partitions", always)
        with pytest.raises(IntegrityError):  # not a race: it fails after a few tries
            partitions.add_dynamic_keys(instance, "variants", ["c"])
