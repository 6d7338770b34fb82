"""Engine workers never re-run the caller's ``__main__``: scripts without a main guard, and
scripts read from stdin, can run backtests."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trading_runtime.backtest.spawn import MAIN_MODULE_KEYS, preparation_data

REPO = Path(__file__).parents[1]

# No `if __name__ == "__main__":` guard, on purpose. Every execution of the script body leaves a
# line in runs.log; a worker that re-ran it would start a pool of its own while bootstrapping.
UNGUARDED_SCRIPT = """
import json
import sys
from pathlib import Path

from trading_runtime.config import apply_overrides, example_config_path, load_config
from trading_runtime.backtest.publish import backtest_and_publish

with open("runs.log", "a") as log:
    log.write("script body ran\\n")
part = Path(sys.argv[1])
config = apply_overrides(
    load_config(example_config_path()), {"strategy.class_path": "my_strategies:market_maker"}
)
outcomes = backtest_and_publish(config, {part.stem: part}, Path("out"), workers=1, timeout_s=120)
print(json.dumps({key: getattr(value, "metrics", None) or repr(value) for key, value in outcomes.items()}))
"""


def test_workers_are_sent_no_main_module() -> None:
    data = preparation_data("worker")
    assert not set(MAIN_MODULE_KEYS) & set(data)
    assert data["sys_path"] and data["dir"] == os.getcwd()  # the rest is the stdlib's


def _start_script(directory: Path, from_stdin: bool, part: Path) -> subprocess.Popen[str]:
    """``python script.py <part>`` or ``python - <part> < script.py`` in ``directory``, with a
    user's strategy module beside the script that the setting allows."""
    market_maker = REPO / "trading_runtime" / "strategies" / "market_maker.py"
    (directory / "my_strategies.py").write_text(market_maker.read_text())
    (directory / "script.py").write_text(UNGUARDED_SCRIPT)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "TRADING_RUNTIME_STRATEGY_MODULES": "trading_runtime.strategies,my_strategies",
    }
    with (directory / "script.py").open() as source:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-" if from_stdin else "script.py", str(part)],
            cwd=directory,
            env=env,
            stdin=source if from_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.mark.slow  # end to end: fresh processes, the whole CLI or a loaded machine
def test_an_unguarded_script_and_a_script_on_stdin_run_a_backtest(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    part = generated_parts[0]
    runs = {}
    for how in ("file", "stdin"):  # both at once: each waits mostly on its worker's compilation
        (tmp_path / how).mkdir()
        runs[how] = _start_script(tmp_path / how, how == "stdin", part)
    strategy_hash = hashlib.sha256((tmp_path / "file" / "my_strategies.py").read_bytes())
    for how, process in runs.items():
        try:
            stdout, stderr = process.communicate(timeout=180)  # start-up and compilation included
        finally:
            process.kill()
        assert process.returncode == 0, f"{how}: {stderr}"
        outcomes = json.loads(stdout.strip().splitlines()[-1])
        assert list(outcomes) == [part.stem], how
        assert isinstance(outcomes[part.stem], dict), outcomes  # metrics, not an error
        result = json.loads((tmp_path / how / "out" / part.stem / "result.json").read_text())
        # An allowed user strategy ran, hashed from its source file.
        assert result["provenance"]["strategy"] == "my_strategies:market_maker"
        assert result["provenance"]["strategy_source_hash"] == strategy_hash.hexdigest()
        assert result["metrics"]["trades"] > 0
        # The script body ran once: no worker re-ran it.
        assert (tmp_path / how / "runs.log").read_text() == "script body ran\n", how
