"""The Dagster UI as a person uses it, in Debian's headless Chromium driven by Playwright.

The webserver runs on a free loopback port against a temporary instance (the Makefile's
dagster.yaml) and small generated parts. The test opens the asset graph, opens the partitions of
``backtest_results``, launches one partition by clicking, waits for its run to succeed, reads
metrics and finds the chart on the page, and checks both against the stored result.

Needs the ``playwright`` package (dev extra; Playwright's own browser downloads are never used)
and a Chromium: Debian's ``chromium`` package (``apt-get install chromium``, what ``.ci/run``
installs) or the executable named by ``TRADING_RUNTIME_TEST_CHROMIUM``. Without them the test
skips, except under CI=true, where it fails: CI must run it. Screenshots of every step go to
``TRADING_RUNTIME_UI_ARTIFACTS`` (default: the test's temporary directory); the path is printed.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from support.engine_service import service_tasks

from trading_runtime.data.parts_store import list_part_keys
from trading_runtime.results import BacktestResult
from trading_runtime.runs.instance import register_parts

pytestmark = pytest.mark.slow  # a webserver and a browser (`make test-quick` leaves it out)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ENV = "TRADING_RUNTIME_TEST_CHROMIUM"
ARTIFACTS_ENV = "TRADING_RUNTIME_UI_ARTIFACTS"
PART, VARIANT = "part-00000", "base"
PARTITION = f"{PART}|{VARIANT}"  # backtest_results is partitioned part x variant
# Bounds: the webserver's start-up (imports, the code server), one UI step (a page, a dialog),
# and the launched run (a run process, a worker that compiles the strategy, the backtest).
STARTUP_TIMEOUT_S = 180
STEP_TIMEOUT_MS = 30_000
RUN_TIMEOUT_S = 240
STOP_TIMEOUT_S = 20


def _require(found: bool, reason: str) -> None:
    if found:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI=true: CI must run the UI test")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> str:
    """The Chromium executable, once Playwright is importable (checked before any server)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require(False, "the playwright package is not installed (the dev extra)")
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    _require(
        path is not None and Path(path).is_file(),
        f"no Chromium: install Debian's chromium (apt-get install chromium) or set {CHROMIUM_ENV}",
    )
    assert path is not None
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _instance_config(home: Path) -> None:
    """The project's instance (the Makefile writes it), launching runs without the daemon.

    ``make dev`` runs the daemon, which dequeues runs for the default QueuedRunCoordinator; this
    test starts the webserver alone, so runs launched from the UI start directly."""
    subprocess.run(
        ["make", "--silent", f"DAGSTER_HOME={home}", f"{home}/dagster.yaml"],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    config.pop("run_queue", None)
    config["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


@dataclass(frozen=True)
class Webserver:
    url: str
    results: Path
    log: Path
    home: Path


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver not serving {url} after {STARTUP_TIMEOUT_S} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The webserver's whole process group: its code server and any run it launched (engine
    workers die with their parent)."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            # The group may outlive its leader: SIGKILL whatever is left of it.
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
        break


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@pytest.fixture
def webserver(tmp_path: Path, parts_dir: Path, artifacts: Path) -> Iterator[Webserver]:
    home, results = tmp_path / "dagster_home", tmp_path / "results"
    home.mkdir()
    _instance_config(home)
    # What the sensor (or `trading-runtime materialize`) does: every part file is a partition.
    with DagsterInstance.from_config(str(home)) as instance:
        register_parts(instance, list_part_keys(parts_dir))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(parts_dir),
        "TRADING_RUNTIME_RESULTS": str(results),
        "TRADING_RUNTIME_WORKERS": "1",
        # The click's run goes to the warm engine service, as under `make dev`.
        "TRADING_RUNTIME_ENGINE_SERVICE": "on",
        # This checkout's code in the webserver, its code server and the runs it launches.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = artifacts / "webserver.log"
    command = [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*command, "-m", "trading_runtime.definitions"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    try:
        _wait_until_serving(process, url, log)
        yield Webserver(url, results, log, home)
    finally:
        _stop(process)


@pytest.fixture
def artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    base = os.environ.get(ARTIFACTS_ENV)
    directory = Path(base) / f"ui-{time.strftime('%Y%m%d-%H%M%S')}" if base else tmp_path / "ui"
    directory.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nUI test screenshots and webserver log: {directory}")
    return directory


def _metric(page: Any, name: str) -> str:
    """A metadata entry's value in the partition's metadata table."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=name, exact=True))
    return str(row.get_by_role("cell").nth(1).inner_text()).strip()


@pytest.mark.timeout(STARTUP_TIMEOUT_S + RUN_TIMEOUT_S + 120)
def test_launch_a_partition_from_the_ui_and_see_its_metrics_and_chart(
    chromium: str, webserver: Webserver, artifacts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    shot = iter(range(1, 100))
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)

        def screenshot(step: str) -> None:
            page.screenshot(path=str(artifacts / f"{next(shot):02d}-{step}.png"))

        # Dagster's "Join the Dagster community" modal greets a new browser: a person skips it.
        community = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
        page.add_locator_handler(
            community, lambda: community.get_by_role("button", name="Skip").click()
        )
        try:
            # The asset graph: select backtest_results, open it in the catalog, its partitions.
            page.goto(f"{webserver.url}/asset-groups")
            page.get_by_text("backtest_results", exact=True).first.click()
            screenshot("asset-graph")
            page.get_by_role("link", name="View in Asset Catalog").click()
            page.get_by_role("tab", name="Partitions").click()
            # Two dimensions: the part in the first column, then its variant in the second.
            page.get_by_text(PART, exact=True).first.click()
            page.get_by_text(VARIANT, exact=True).first.click()
            expect(page).to_have_url(re.compile(f"partition={PART}(%7C|\\|){VARIANT}"))
            screenshot("partitions")

            # Materialize the selected partition: the launch dialog has it selected already.
            page.get_by_role("button", name="Materialize…").click()
            launch = page.get_by_role("button", name=re.compile(r"^Launch 1 run$"))
            confirm = page.get_by_role("button", name="Confirm")  # upstream `parts` not stored
            expect(launch.or_(confirm)).to_be_visible()
            if confirm.is_visible():
                confirm.click()
            dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
            expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
            # One dimension each: the part, and the variant.
            for dimension, key in (("part", PART), ("variant", VARIANT)):
                expect(dialog.get_by_text(dimension, exact=True).first).to_be_visible()
                expect(dialog.get_by_text(key, exact=True).first).to_be_visible()
            screenshot("launch-dialog")
            launch.click()
            expect(dialog).to_be_hidden()
            screenshot("launched")

            # The page follows the run: the partition turns materialized (or failed).
            outcome = page.get_by_text(re.compile(r"^(Materialized|Failed) \(1\)$"))
            expect(outcome).to_be_visible(timeout=RUN_TIMEOUT_S * 1000)
            screenshot("run-finished")
            assert outcome.inner_text() == "Materialized (1)", _tail(webserver.log)
            # The code location's warm-up and the click's backtest ran in the engine service.
            assert service_tasks(webserver.home) >= 2, _tail(webserver.log)

            # The partition's metadata: metrics as the stored result has them, and the chart.
            stored = BacktestResult.load(webserver.results / "backtest_results" / PART)
            page.reload()
            expect(page.get_by_role("cell", name="pnl", exact=True)).to_be_visible()
            assert int(_metric(page, "trades")) == stored.metrics["trades"]
            assert float(_metric(page, "pnl")) == pytest.approx(stored.metrics["pnl"], rel=1e-5)
            assert _metric(page, "content_hash") == stored.content_hash
            screenshot("metadata")
            chart_row = page.get_by_role("row").filter(
                has=page.get_by_role("cell", name="chart", exact=True)
            )
            chart_row.get_by_text("[Show Markdown]").click()
            image = page.get_by_role("dialog").get_by_role("img", name=f"{PART}: PnL and position")
            expect(image).to_be_visible()
            decoded = image.evaluate("img => img.complete && img.naturalWidth")
            assert decoded == 640, "the chart image did not decode in the browser"
            source = str(image.get_attribute("src"))
            assert base64.b64decode(source.partition(",")[2]) == stored.read_chart()
            screenshot("chart")
        except (AssertionError, PlaywrightError):
            page.screenshot(path=str(artifacts / "failure.png"))
            raise
        finally:
            browser.close()
    with capsys.disabled():
        print(f"UI test: {time.monotonic() - started:.1f} s after the webserver started")
