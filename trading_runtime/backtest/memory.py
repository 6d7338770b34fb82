"""A memory limit per engine worker, so a runaway strategy fails its own part with a memory
error instead of growing until the kernel's OOM killer ends it (a strategy once grew one worker
to 23.7 GB, emptying the machine's page cache).

``TRADING_RUNTIME_WORKER_MEMORY_MB`` (0: no limit) is applied in each worker as ``RLIMIT_DATA``,
the process's private writable memory (heap, anonymous mappings), not ``RLIMIT_AS``: a warm worker
maps ~2 GB of address space (shared libraries, LLVM, thread stacks and allocator reservations)
but holds ~0.5 GB of data after a backtest (measured here: VmSize 1.96 GB, VmData 0.51 GB, RSS
0.43 GB). Past the limit, allocations fail: numpy and numba raise ``MemoryError``, which fails the
part, naming the limit. The default shares the machine's memory (or the container's cgroup
limit, whichever is lower) among the workers: ``DEFAULT_SHARE`` of it over the number of workers,
at least ``MIN_DEFAULT_MB``.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DEFAULT_SHARE",
    "MIN_DEFAULT_MB",
    "WORKER_MEMORY_ENV",
    "apply_memory_limit",
    "machine_memory_mb",
    "worker_memory_limit_mb",
]

WORKER_MEMORY_ENV = "TRADING_RUNTIME_WORKER_MEMORY_MB"
DEFAULT_SHARE = 0.75
MIN_DEFAULT_MB = 1024
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def machine_memory_mb() -> int:
    """Physical memory, or the cgroup (v2) memory limit of this container when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        text = _CGROUP_LIMIT.read_text().strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return total >> 20


def worker_memory_limit_mb(workers: int, environ: Mapping[str, str] | None = None) -> int:
    """The memory limit of each of ``workers`` engine workers, in MB (0: no limit):
    ``TRADING_RUNTIME_WORKER_MEMORY_MB``, else the default share of the machine's memory."""
    environ = os.environ if environ is None else environ
    text = environ.get(WORKER_MEMORY_ENV, "").strip()
    if text:
        if not text.isdigit():
            raise ValueError(
                f"{WORKER_MEMORY_ENV}={text!r}: expected a whole number of megabytes (0 for no"
                " limit)"
            )
        return int(text)
    return max(MIN_DEFAULT_MB, int(machine_memory_mb() * DEFAULT_SHARE / max(1, workers)))


def apply_memory_limit(limit_mb: int) -> None:
    """Limit this process's data segment to ``limit_mb`` MB (0: leave it); never above the
    hard limit it already has."""
    if limit_mb <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = limit_mb << 20
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
