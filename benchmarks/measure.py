"""Measuring helpers: memory, CPU and idle time, and running a logged command.

Only the standard library here: child processes import this module before their scenario runs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# A backtest slower than this (and than 10x the fastest one) paid a numba compile (~7 s here;
# a warm backtest of a part takes tens of milliseconds).
COMPILE_THRESHOLD_S = 1.0


class BenchmarkError(RuntimeError):
    """A scenario failed; the message says which and where its log is."""


def median_min_max(values: Sequence[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    return statistics.median(values), min(values), max(values)


def compile_count(walls: Sequence[float]) -> int:
    """How many backtests paid a numba compile (far slower than the rest)."""
    if not walls:
        return 0
    fastest = min(walls)
    return sum(1 for w in walls if w > max(COMPILE_THRESHOLD_S, 10 * fastest))


def memory_mb() -> dict[str, float]:
    """Peak RSS of this process and of its largest reaped descendant; current RSS and VmHWM."""
    status: dict[str, float] = {}
    with contextlib.suppress(OSError), open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                status[key] = float(value.split()[0]) / 1024
    return {
        "self_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "rss_mb": status.get("VmRSS", float("nan")),
        "hwm_mb": status.get("VmHWM", float("nan")),
    }


def reset_hwm() -> bool:
    """Reset this process's VmHWM (Linux: write 5 to clear_refs); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds() -> tuple[float, float]:
    """Machine-wide busy and steal CPU seconds since boot (first line of /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) / tick for v in fields[:8])
    return user + nice + system + irq + softirq, steal


def reaped_cpu_seconds() -> float:
    """CPU seconds of this process's reaped descendants (children, their workers, ...)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_idle(limit_s: float, busy_cores: float = 0.3) -> float:
    """Wait (at most ``limit_s``) for two consecutive seconds with less than ``busy_cores`` of
    CPU in use machine-wide; the seconds waited."""
    started = time.perf_counter()
    calm = 0
    previous = cpu_seconds()[0]
    while time.perf_counter() - started < limit_s and calm < 2:
        time.sleep(1.0)
        current = cpu_seconds()[0]
        calm = calm + 1 if current - previous < busy_cores else 0
        previous = current
    return time.perf_counter() - started


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without trading-runtime or Dagster settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRADING_RUNTIME_") and k != "DAGSTER_HOME"
    }
    env.update(extra)
    return env


def run_logged(
    command: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    log_path: Path,
    stdout_path: Path | None = None,
) -> float:
    """Run a command in its own process group (killed whole past ``timeout``); its wall time."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "ab"))
        out = stack.enter_context(open(stdout_path, "wb")) if stdout_path else log
        process = subprocess.Popen(
            list(command), stdout=out, stderr=log, env=env, cwd=cwd, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    elapsed = time.perf_counter() - started
    if code != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise BenchmarkError(f"{' '.join(command)} exited {code} (log {log_path}):\n{tail}")
    return elapsed
