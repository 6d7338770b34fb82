"""The ``framework`` marker's rules (tests/support/framework.py), run on a small test file with
pytester: skipped without the framework, never skipped with it, failed without it when required."""

from __future__ import annotations

import pytest
from support.framework import REQUIRE_FRAMEWORK_ENV, framework_installed

TESTS = """
import pytest

@pytest.mark.framework
def test_runs():
    pass

@pytest.mark.framework
def test_skips_itself():
    pytest.skip("not today")

@pytest.mark.framework
@pytest.mark.skipif(True, reason="a condition")
def test_skipped_by_a_mark():
    pass

def test_other_skip():
    pytest.skip("not a framework test")
"""


def _run(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makepyfile(test_marked=TESTS)
    return pytester.runpytest("-p", "support.framework", "-rA")


def _without_the_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    if framework_installed():
        # Hidden from find_spec, as in an environment without it.
        monkeypatch.setattr("support.framework.FRAMEWORK_MODULE", "trading_platform_absent")


def test_without_the_framework_its_tests_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REQUIRE_FRAMEWORK_ENV, raising=False)
    _without_the_framework(monkeypatch)
    result = _run(pytester)
    result.assert_outcomes(skipped=4)
    result.stdout.fnmatch_lines(["*trading-platform is not installed (make install-framework)*"])


def test_required_without_the_framework_its_tests_fail(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_FRAMEWORK_ENV, "1")
    _without_the_framework(monkeypatch)
    result = _run(pytester)
    # Skipped at setup (the marker, the skipif): errors; the rest fail; other tests still skip.
    result.assert_outcomes(errors=3, skipped=1)
    result.stdout.fnmatch_lines(
        [f"*a framework test may not be skipped ({REQUIRE_FRAMEWORK_ENV} is set: *"]
    )


def test_where_the_framework_is_importable_its_tests_cannot_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REQUIRE_FRAMEWORK_ENV, raising=False)
    if not framework_installed():
        stand_in = pytester.mkdir("site") / "trading_platform"
        stand_in.mkdir()
        (stand_in / "__init__.py").write_text("")
        monkeypatch.syspath_prepend(str(stand_in.parent))
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*a framework test may not be skipped (trading_platform is importable*): *a condition",
            "*a framework test may not be skipped (trading_platform is importable*): *not today",
        ],
        consecutive=False,
    )
