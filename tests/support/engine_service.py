"""What the tests ask an instance's warm engine service (``backtest.engine_service``)."""

from __future__ import annotations

from pathlib import Path

from trading_runtime.backtest.service_client import ServicePool
from trading_runtime.backtest.service_identity import ServiceFiles


def service_tasks(home: Path) -> int:
    """How many tasks the engine service of the instance at ``home`` has taken (its status
    request, which any holder of the key may make)."""
    files = ServiceFiles(home)
    key = files.read_key()
    assert key is not None, "no engine service was started for this instance"
    reply = ServicePool(files, key, "status only", 1).request("status", 10.0)
    return int(reply[1]["tasks"])
