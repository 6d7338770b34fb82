"""A first start without noise: what the Makefile's instance turns off, and the warning when
`dagster dev` / `dg dev` run without DAGSTER_HOME."""

import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance
from support.dagster_servers import make_instance

from trading_runtime.definitions import temporary_instance_warning


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_makefile_instance_is_quiet_and_runs_one_run_at_a_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_instance(home)
    instance = DagsterInstance.from_config(str(home))
    assert not instance.telemetry_enabled
    assert not instance.nux_enabled  # no "Join the Dagster community" dialog
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_a_temporary_instance_is_named_in_a_warning() -> None:
    dev = {"DAGSTER_IS_DEV_CLI": "1"}
    warning = temporary_instance_warning(dev)
    assert warning is not None and "DAGSTER_HOME=$PWD/.dagster" in warning
    assert temporary_instance_warning({**dev, "DAGSTER_HOME": "/somewhere"}) is None
    assert temporary_instance_warning({}) is None  # not under dagster dev: tests, the CLI
