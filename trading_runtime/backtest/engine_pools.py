"""Which pool a batch of backtests or validations runs on: the warm engine service's when it is
on and answers (``service_client``), else this process's own shared pool (``pool``)."""

from __future__ import annotations

import os

from trading_runtime.backtest.pool import EnginePool, shared_pool
from trading_runtime.backtest.service_client import service_pool

__all__ = ["pool_for"]


def pool_for(tasks: int, workers: int | None = None) -> EnginePool:
    """The pool for a batch: ``workers`` (default: cores), never more than the tasks."""
    size = min(workers or os.cpu_count() or 1, max(1, tasks))
    return service_pool(size) or shared_pool(size)
