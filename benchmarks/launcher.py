"""Child-process isolation: each scenario and command in a fresh process, with the CPU contention
around it recorded (``Launcher``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.measure import (
    REPO_ROOT,
    clean_env,
    cpu_seconds,
    reaped_cpu_seconds,
    run_logged,
    wait_for_idle,
)
from benchmarks.options import Options
from benchmarks.scenarios.common import Spec

# How a child process is started: ``python -m benchmarks --child SCENARIO ...``, from the
# repository root (so ``benchmarks`` is this package).
CHILD_MODULE = "benchmarks"


class Launcher:
    """Launches child scenarios and commands; records the CPU contention around each."""

    def __init__(self, options: Options, work: Path) -> None:
        self.options = options
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.contention: list[dict[str, Any]] = []

    def run(
        self,
        name: str,
        command: Sequence[str],
        env: dict[str, str],
        cwd: Path,
        stdout_path: Path | None = None,
    ) -> float:
        """Wait for a quiet machine (``--wait-idle``), run, and record how much CPU other
        processes used meanwhile (machine busy time - what this command and its descendants
        used), in cores."""
        waited = wait_for_idle(self.options.wait_idle) if self.options.wait_idle > 0 else 0.0
        busy0, steal0 = cpu_seconds()
        own0 = reaped_cpu_seconds()
        load = os.getloadavg()[0]
        elapsed = run_logged(
            command,
            env=env,
            cwd=cwd,
            timeout=self.options.child_timeout,
            log_path=self.logs / f"{name}.log",
            stdout_path=stdout_path,
        )
        busy1, steal1 = cpu_seconds()
        own = reaped_cpu_seconds() - own0
        self.contention.append(
            {
                "name": name,
                "seconds": elapsed,
                "waited_s": waited,
                "load1": load,
                "own_cores": own / elapsed,
                "other_cores": max(0.0, (busy1 - busy0 - own) / elapsed),
                "steal_cores": (steal1 - steal0) / elapsed,
            }
        )
        return elapsed

    def child(self, scenario: str, spec: Spec, label: str = "") -> dict[str, Any]:
        """Run a scenario in a fresh ``python -m benchmarks --child`` process; its result."""
        self.count += 1
        name = f"{self.count:02d}-{scenario}{'-' + label if label else ''}"
        spec_path = self.logs / f"{name}.spec.json"
        out_path = self.logs / f"{name}.out.json"
        spec_path.write_text(json.dumps(spec))
        print(f"  [{name}] ...", end="", flush=True)
        command = [sys.executable, "-m", CHILD_MODULE, "--child", scenario]
        command += ["--child-spec", str(spec_path), "--child-out", str(out_path)]
        elapsed = self.run(name, command, clean_env(PYTHONWARNINGS="ignore"), REPO_ROOT)
        other = self.contention[-1]["other_cores"]
        print(f" {elapsed:.1f} s (other processes: {other:.2f} cores)", flush=True)
        result: dict[str, Any] = json.loads(out_path.read_text())
        result["child_wall_s"] = elapsed
        return result

    def command(self, command: Sequence[str], env: dict[str, str], label: str) -> float:
        self.count += 1
        return self.run(f"{self.count:02d}-{label}", command, env, self.work)

    def python_c(self, code: str, env: dict[str, str], label: str) -> tuple[float, Any]:
        """Wall time of a fresh ``python -c``; its last stdout line parsed as JSON if any."""
        self.count += 1
        name = f"{self.count:02d}-{label}"
        stdout_path = self.logs / f"{name}.stdout"
        elapsed = self.run(name, [sys.executable, "-c", code], env, self.work, stdout_path)
        lines = stdout_path.read_text().strip().splitlines()
        parsed = None
        if lines:
            with contextlib.suppress(json.JSONDecodeError):
                parsed = json.loads(lines[-1])
        return elapsed, parsed
