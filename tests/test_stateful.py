"""Random histories of operations, in Jepsen's spirit: parts added, rewritten and deleted; stored
result files flipped, truncated and deleted; `materialize` run to the end or stopped by SIGINT,
SIGTERM or SIGKILL at a drawn moment. After any history one clean `materialize` exits 0 and
leaves every current part's stored result verifying, with the content hash of a from-scratch
backtest of that part's bytes, the aggregate listing exactly the current parts, and nothing in
staging. A clean `materialize` right after another backtests nothing.

Every history starts from three parts materialized once (a copy of that state is restored
before each). Damage rewrites a file, so its mtime changes: a flip that kept size and mtime
would be invisible to the result-hash cache by design (docs/operations.md), not tested here.

Each `materialize` is a real process (it compiles the strategy on start, ~5-15 s), so histories
are short. CI explores ``TRADING_RUNTIME_STATEFUL_EXAMPLES`` histories (default 3) of at most
``TRADING_RUNTIME_STATEFUL_STEPS`` steps (default 6) from a fixed seed: 3 histories, 18 steps,
3 min 47 s on a loaded 2-core machine (Hypothesis also gives up on an empty one, not checked);
``TRADING_RUNTIME_STATEFUL_RANDOM=1`` draws a fresh seed, ``TRADING_RUNTIME_STATEFUL_SHRINK=1``
minimizes a failing history (each try costs minutes, so CI reports the history as found).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from support.stateful_runs import (
    MILESTONES,
    STOPS,
    Outcome,
    Workspace,
    damage,
    damage_targets,
    replace_part,
    run_materialize,
    stored_keys,
)

from trading_runtime.config import example_config_path
from trading_runtime.data.generate import GeneratorSpec, generate_parts
from trading_runtime.layout import AGGREGATE_FILE, PART_SUFFIX
from trading_runtime.results import BacktestResult

pytestmark = pytest.mark.slow  # real `materialize` processes, started and killed

EXAMPLES = int(os.environ.get("TRADING_RUNTIME_STATEFUL_EXAMPLES", "3"))
STEPS = int(os.environ.get("TRADING_RUNTIME_STATEFUL_STEPS", "6"))
RANDOM = os.environ.get("TRADING_RUNTIME_STATEFUL_RANDOM") == "1"
SHRINK = os.environ.get("TRADING_RUNTIME_STATEFUL_SHRINK") == "1"
# Hang guard only: a step starts at most one `materialize` (tens of seconds), plus the setup.
TIMEOUT_S = 900 + 120 * EXAMPLES * (STEPS + 1) * (10 if SHRINK else 1)

# Part contents: tiny parts with distinct seeds, generated once. Parts in a history are copies
# of them under the names below; the first three are the parts a history starts with.
SEEDS = (101, 202, 303, 404)
EVENTS = 3000
NAMES = [f"part-{i:05d}{PART_SUFFIX}" for i in range(4)]
START = {NAMES[i]: i for i in range(3)}
DELAYS_S = (0.0, 0.5, 2.0, 5.0)  # from a milestone on stdout to the signal
DAMAGES = ("flip", "truncate", "delete")

# What the explored histories did (printed at the end; CI's log shows the numbers).
TALLY: Counter[str] = Counter()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def contents(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("contents")
    return [
        generate_parts(GeneratorSpec(parts=1, events=EVENTS, seed=seed), out, prefix=f"c{i}-")[0]
        for i, seed in enumerate(SEEDS)
    ]


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory, contents: list[Path]) -> list[str]:
    """Each content's content hash from a from-scratch `backtest` (no Dagster, a fresh
    directory), in one process: one compile."""
    workspace = Workspace(tmp_path_factory.mktemp("reference"))
    workspace.create()
    out = workspace.root / "out"
    config = str(example_config_path("hftbacktest"))  # what `materialize` uses by default
    command = [sys.executable, "-m", "trading_runtime", "backtest", "--config", config]
    command += ["--out", str(out)]
    for path in contents:
        command += ["--part", str(path)]
    done = subprocess.run(
        command,
        env=workspace.env(),
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    hashes = [BacktestResult.load(out / path.stem).content_hash for path in contents]
    assert len(set(hashes)) == len(hashes), "the contents must give different results"
    return hashes


@pytest.fixture(scope="module")
def snapshot(
    tmp_path_factory: pytest.TempPathFactory, contents: list[Path], references: list[str]
) -> tuple[Workspace, Path]:
    """The state every history starts from: the first parts, materialized once (results and
    instance), kept as a copy; histories run in ``workspace``, restored from the copy."""
    workspace = Workspace(tmp_path_factory.mktemp("stateful") / "ws")
    workspace.create()
    for name, index in START.items():
        shutil.copyfile(contents[index], workspace.parts / name)
    outcome = run_materialize(workspace)
    check_clean(workspace, outcome, START, contents, references)
    copy = workspace.root.with_name("snapshot")
    shutil.copytree(workspace.root, copy, symlinks=True)
    return workspace, copy


def check_clean(
    workspace: Workspace,
    outcome: Outcome,
    parts: dict[str, int],
    contents: list[Path],
    references: list[str],
    after_clean: bool = False,
) -> None:
    """What one clean `materialize` must leave, for parts ``parts`` (name: content index);
    ``after_clean``: nothing changed since the last clean one, so it backtested nothing."""
    assert outcome.returncode == 0, outcome.tail()
    if after_clean:
        assert " 0 to backtest" in outcome.stdout and " ok     " not in outcome.stdout, (
            outcome.tail()
        )
    staging = workspace.staging
    assert not staging.exists() or not list(staging.iterdir()), (
        f"left in staging: {sorted(p.name for p in staging.iterdir())}\n{outcome.tail()}"
    )
    for name, index in sorted(parts.items()):
        assert _sha256(workspace.parts / name) == _sha256(contents[index])  # the model holds
        result = BacktestResult.load(workspace.partitions / Path(name).stem)
        result.verify()
        assert result.content_hash == references[index], (name, index, outcome.tail())
    table = pq.read_table(workspace.results / AGGREGATE_FILE).column("partition").to_pylist()
    assert sorted(table) == sorted([*(Path(n).stem for n in parts), "TOTAL"]), outcome.tail()


def _planned(outcome: Outcome) -> str:
    """The plan line of a `materialize`'s stdout ("2 partition(s) up to date, 1 to backtest")."""
    return next((line for line in outcome.stdout.splitlines() if " to backtest" in line), "?")


def _machine(
    workspace: Workspace, snapshot: Path, contents: list[Path], references: list[str]
) -> type[RuleBasedStateMachine]:
    class History(RuleBasedStateMachine):
        """The model is the parts directory (name: content index); results are the system's."""

        def __init__(self) -> None:
            super().__init__()
            shutil.rmtree(workspace.root, ignore_errors=True)
            shutil.copytree(snapshot, workspace.root, symlinks=True)
            self.parts = dict(START)
            self.clean = True  # the last step was a clean `materialize` (the snapshot's)
            self.in_step = False  # a step that raised leaves it set: teardown then checks nothing
            self.steps = 0
            TALLY["histories"] += 1
            print(f"history {TALLY['histories']}:")

        def _step(self, what: str) -> None:
            self.in_step = True
            self.clean = False
            self.steps += 1
            TALLY["steps"] += 1
            TALLY[what] += 1

        def _done(self, line: str) -> None:
            print(f"  {line}")  # the histories explored, in the log (pytest -s)
            self.in_step = False

        @precondition(lambda self: len(self.parts) < len(NAMES))
        @rule(data=st.data())
        def add_part(self, data: st.DataObject) -> None:
            self._step("add a part")
            name = data.draw(st.sampled_from(sorted(set(NAMES) - set(self.parts))), "name")
            index = data.draw(st.integers(0, len(contents) - 1), "content")
            replace_part(workspace, name, contents[index])
            self.parts[name] = index
            self._done(f"add {name} (content {index})")

        @rule(data=st.data())
        def rewrite_part(self, data: st.DataObject) -> None:
            self._step("rewrite a part")
            name = data.draw(st.sampled_from(sorted(self.parts)), "name")
            others = [i for i in range(len(contents)) if i != self.parts[name]]
            index = data.draw(st.sampled_from(others), "content")
            replace_part(workspace, name, contents[index])
            self.parts[name] = index
            self._done(f"rewrite {name} (content {index})")

        @precondition(lambda self: len(self.parts) > 1)  # no parts at all is an error
        @rule(data=st.data())
        def delete_part(self, data: st.DataObject) -> None:
            self._step("delete a part")
            name = data.draw(st.sampled_from(sorted(self.parts)), "name")
            (workspace.parts / name).unlink()
            del self.parts[name]
            self._done(f"delete {name}")

        @precondition(lambda self: bool(stored_keys(workspace)))
        @rule(data=st.data())
        def damage_result(self, data: st.DataObject) -> None:
            """A stored file or directory damaged: of a current part's result or an orphan's
            (a deleted part's result stays, reported by the aggregate)."""
            self._step("damage a stored result")
            key = data.draw(st.sampled_from(stored_keys(workspace)), "key")
            targets = damage_targets(workspace, key)
            if not targets:
                self._done(f"damage {key}: nothing left to damage")
                return
            target = data.draw(st.sampled_from(targets), "target")
            how = data.draw(st.sampled_from(DAMAGES), "how")
            damage(target, how)
            TALLY[f"damage: {how}"] += 1
            current = " (current)" if f"{key}{PART_SUFFIX}" in self.parts else " (orphan)"
            self._done(f"damage {key}{current}: {how} {target.relative_to(workspace.partitions)}")

        def _stop(self, data: st.DataObject, stop: str) -> None:
            self._step("stop a materialize")
            after = data.draw(st.sampled_from(MILESTONES), "after")
            delay_s = data.draw(st.sampled_from(DELAYS_S), "delay_s")
            force = data.draw(st.booleans(), "force")  # a whole run to stop
            args = ("--force",) if force else ()
            outcome = run_materialize(workspace, stop, after, delay_s, args)
            TALLY[f"stopped by {stop}" if outcome.stopped else "stop came too late"] += 1
            self._done(
                f"materialize{' --force' if force else ''}, {stop} {delay_s} s after"
                f" {after.strip()!r}: exit {outcome.returncode}"
                + ("" if outcome.stopped else " (ended first)")
            )

        # Every rule draws from `data` alone: Hypothesis orders rules by their number of
        # arguments, and would otherwise start every search with runs of the simplest one.
        # Two stop rules (a graceful stop, a kill), not right after a clean run (nothing to
        # backtest: the command would end before the signal).
        @precondition(lambda self: not self.clean)
        @rule(data=st.data())
        def interrupt_materialize(self, data: st.DataObject) -> None:
            stops = [s for s in sorted(STOPS) if "SIGKILL" not in s]
            self._stop(data, data.draw(st.sampled_from(stops), "stop"))

        @precondition(lambda self: not self.clean)
        @rule(data=st.data())
        def kill_materialize(self, data: st.DataObject) -> None:
            self._stop(data, "SIGKILL to the group")

        @rule(data=st.data())
        def materialize(self, data: st.DataObject) -> None:
            was_clean = self.clean
            self._step("materialize")
            single_run = data.draw(st.booleans(), "single_run")
            outcome = run_materialize(workspace, args=("--single-run",) if single_run else ())
            check_clean(workspace, outcome, self.parts, contents, references, was_clean)
            self.clean = True
            self._done(f"materialize{' --single-run' if single_run else ''}: {_planned(outcome)}")

        def teardown(self) -> None:
            if self.in_step:
                return  # the failing step is what the report shows
            if self.steps == 0:
                return  # an example Hypothesis gave up on: still the snapshot's clean state
            TALLY["histories with steps"] += 1
            was_clean = self.clean
            outcome = run_materialize(workspace)
            TALLY["final materialize"] += 1
            check_clean(workspace, outcome, self.parts, contents, references, was_clean)
            print(f"  final materialize: {_planned(outcome)}")

    return History


@pytest.mark.timeout(TIMEOUT_S)
def test_any_history_ends_clean_after_one_materialize(
    snapshot: tuple[Workspace, Path], contents: list[Path], references: list[str]
) -> None:
    workspace, copy = snapshot
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if SHRINK else [])
    try:
        run_state_machine_as_test(
            _machine(workspace, copy, contents, references),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                derandomize=not RANDOM,
                database=None,
                phases=phases,
                suppress_health_check=[
                    HealthCheck.too_slow,
                    HealthCheck.data_too_large,
                    HealthCheck.filter_too_much,
                ],
            ),
        )
    finally:
        print(f"explored: {dict(sorted(TALLY.items()))}")
    assert TALLY["histories"] >= 1
