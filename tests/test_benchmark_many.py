"""The benchmark's 10,000 synthetic results (``benchmarks.scenarios.many``) pass the checks the
aggregate makes on every stored result: its 10x sample once listed the 1x files' sha256 and had
no chart, so the aggregate refused all of them and the full benchmark stopped there."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.scenarios.many import _listing, _write_10x_sample, _write_results
from trading_runtime.backtest.fan_out import backtest_part
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.config import BacktestConfig
from trading_runtime.layout import CURVE_FILE, RESULT_FILE
from trading_runtime.results.result import BacktestResult


def test_the_synthetic_results_verify_as_stored_ones(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    sample = backtest_part(hft_config, generated_parts[0], tmp_path / "sample", pool=pool)
    big = tmp_path / "sample-10x"
    big.mkdir()
    rows = _write_10x_sample(Path(sample.directory), big)
    document = json.loads((Path(sample.directory) / RESULT_FILE).read_text())
    for source, root in ((Path(sample.directory), tmp_path / "1x"), (big, tmp_path / "10x")):
        _write_results(root, source, _listing(document, source), ["part-00001", "part-00002"])
        for key in ("part-00001", "part-00002"):
            stored = BacktestResult.load(root / key)
            stored.verify()  # every listed file present with its sha256
            assert stored.provenance["part"] == key
    assert BacktestResult.load(tmp_path / "10x" / "part-00001").read_curve().num_rows == 10 * rows
    assert (big / CURVE_FILE).stat().st_size > (Path(sample.directory) / CURVE_FILE).stat().st_size
