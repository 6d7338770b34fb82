"""The ``framework`` marker: tests that need trading-platform (the pinned framework) installed.

A pytest plugin (``pytest_plugins`` in tests/conftest.py):

- where ``trading_platform`` is not importable, a ``framework`` test is skipped, saying how to
  install it;
- where it is importable, no ``framework`` test can be skipped: a skip from anywhere (a
  ``skipif`` mark, ``pytest.skip``, ``pytest.importorskip``) is reported as a failure, so an
  environment with the framework always runs them;
- with ``TRADING_RUNTIME_REQUIRE_FRAMEWORK=1``, a missing framework fails every ``framework`` test
  instead of skipping it (for a job that installs the framework and must run those tests).

Importable means ``importlib.util.find_spec("trading_platform")`` finds it, as the adapter looks
for it; never ``pip install trading-platform`` from PyPI, an unrelated project of that name (the
pinned commit is installed with ``make install-framework``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Generator

import pytest

REQUIRE_FRAMEWORK_ENV = "TRADING_RUNTIME_REQUIRE_FRAMEWORK"
FRAMEWORK_MODULE = "trading_platform"
NOT_INSTALLED = "trading-platform is not installed (make install-framework)"


def framework_installed() -> bool:
    return importlib.util.find_spec(FRAMEWORK_MODULE) is not None


def framework_required() -> bool:
    return os.environ.get(REQUIRE_FRAMEWORK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "framework: needs trading-platform (tests/support/framework.py)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("framework") is not None and not framework_installed():
        pytest.skip(NOT_INSTALLED)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("framework") is not None
    ):
        if framework_installed():
            why = f"{FRAMEWORK_MODULE} is importable here, so it must run"
        elif framework_required():
            why = f"{REQUIRE_FRAMEWORK_ENV} is set: {NOT_INSTALLED}"
        else:
            return report
        skipped = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"a framework test may not be skipped ({why}): {skipped}"
    return report
