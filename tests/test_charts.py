"""Charts without Dagster: small deterministic PNGs drawn from the stored curve, listed and
checked with the result but outside its content hash."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from upath import UPath

from trading_runtime.adapters import EngineOutput
from trading_runtime.backtest import execute as execution
from trading_runtime.backtest.fan_out import backtest_part, prepare_out_dir
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.config import BacktestConfig
from trading_runtime.data.validate import validate_part
from trading_runtime.layout import AGGREGATE_CHART_FILE, CHART_FILE, STATS_FILE
from trading_runtime.results import BacktestResult, ResultIntegrityError, charts
from trading_runtime.results.aggregate import aggregate_table, write_aggregate_chart
from trading_runtime.results.metrics import CURVE_SCHEMA
from trading_runtime.results.store import publish_result_files

ROOT = Path(__file__).resolve().parent.parent
# A chart as it is stored: a few tens of KB at most (they sit in every materialization event).
MAX_CHART_BYTES = 30_000


def _curve(rows: int, seed: int = 3, unpriced: int = 0) -> pa.Table:
    """A synthetic curve in ``CURVE_SCHEMA``: a random walk of PnL, position in lots."""
    rng = np.random.default_rng(seed)
    price = 60_000 + np.cumsum(rng.normal(0, 0.5, rows))
    price[:unpriced] = np.nan
    position = np.round(np.cumsum(rng.integers(-1, 2, rows)) * 0.01, 2)
    equity = np.cumsum(rng.normal(0, 0.05, rows))
    equity[:unpriced] = np.nan
    columns = {
        "timestamp": 1_700_000_000_000_000_000 + np.arange(rows, dtype=np.int64) * 100_000_000,
        "price": price,
        "position": position,
        "balance": equity - position * price,
        "fee": np.zeros(rows),
        "num_trades": np.arange(rows, dtype=np.int64),
        "trading_volume": np.arange(rows) * 0.01,
        "trading_value": np.arange(rows) * 600.0,
        "equity": equity,
    }
    return pa.table([pa.array(columns[f.name], type=f.type) for f in CURVE_SCHEMA], CURVE_SCHEMA)


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_part_chart_is_a_small_png_with_no_text_chunks() -> None:
    png = charts.part_chart_png(_curve(750), "part-00000")
    image = _image(png)
    width, height = (round(side * charts.CHART_DPI) for side in charts.CHART_SIZE_IN)
    assert image.format == "PNG" and image.size == (width, height)
    assert len(png) < MAX_CHART_BYTES
    assert image.info == {} or set(image.info) <= {"transparency"}  # no Software, no dates
    assert b"tEXt" not in png and b"iTXt" not in png and b"zTXt" not in png


def test_same_curve_same_bytes_in_any_order_and_in_a_fresh_process(tmp_path: Path) -> None:
    first, second = _curve(750, seed=1), _curve(2000, seed=2, unpriced=30)
    a = charts.part_chart_png(first, "a")
    b = charts.part_chart_png(second, "b")
    assert a != b
    assert charts.part_chart_png(first, "a") == a  # the figure drawn again: nothing carried over
    curve_file = tmp_path / "curve.arrow"
    with pa.OSFile(str(curve_file), "wb") as sink, pa.ipc.new_file(sink, first.schema) as writer:
        writer.write_table(first)
    script = (
        "import sys, pyarrow as pa; from trading_runtime.results.charts import part_chart_png;"
        " curve = pa.ipc.open_file(sys.argv[1]).read_all();"
        " sys.stdout.buffer.write(part_chart_png(curve, 'a'))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script, str(curve_file)],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    ).stdout
    assert fresh == a


def test_pnl_starts_at_the_first_priced_row_and_the_title_says_it() -> None:
    curve = _curve(500, unpriced=40)
    equity = curve.column("equity").to_numpy(zero_copy_only=False)
    drawn = charts.part_chart_png(curve, "p")
    # The title is the only part-specific text: the PnL from the first priced row to the end.
    shifted = curve.set_column(
        CURVE_SCHEMA.get_field_index("equity"), "equity", pa.array(equity + 1000.0)
    )
    assert charts.part_chart_png(shifted, "p") == drawn  # PnL, not equity level


def test_a_long_curve_keeps_its_extremes_and_draws_fast() -> None:
    rows = 1_000_000
    x = np.arange(rows, dtype=np.float64)
    y = np.zeros(rows)
    y[123_457] = 50.0  # one spike a plain stride would likely skip
    y[876_543] = -20.0
    px, py = charts._envelope(x, y, charts.MAX_CURVE_POINTS)
    assert len(px) <= charts.MAX_CURVE_POINTS
    assert py.max() == 50.0 and py.min() == -20.0 and np.all(np.diff(px) > 0)
    curve = _curve(rows)
    charts.part_chart_png(curve, "warm")
    started = time.perf_counter()
    png = charts.part_chart_png(curve, "long")
    assert time.perf_counter() - started < 10.0  # drawn from <= MAX_CURVE_POINTS points
    assert len(png) < MAX_CHART_BYTES


def test_aggregate_chart_with_few_and_many_parts(tmp_path: Path) -> None:
    def table(parts: int) -> pa.Table:
        rng = np.random.default_rng(parts)
        rows = [
            {
                "partition": f"part-{i:05d}",
                "pnl": float(rng.normal()),
                "max_drawdown": float(abs(rng.normal())),
                "trades": 10,
            }
            for i in range(parts)
        ]
        rows.append({"partition": "part-99999", "pnl": None, "max_drawdown": None})
        return aggregate_table(rows)

    values = np.array([1.0, -2.0, 3.0, 0.0, 5.0])
    assert charts._column_extremes(values, 2, np.maximum).tolist() == [1.0, 3.0, 5.0]
    assert charts._column_extremes(values, 2, np.minimum).tolist() == [-2.0, 0.0, 0.0]
    few = charts.aggregate_chart_png(table(3))
    started = time.perf_counter()
    many = charts.aggregate_chart_png(table(10_000))
    assert time.perf_counter() - started < 10.0  # 600 columns of outlines, not 10,000 bars
    for png in (few, many):
        assert _image(png).size == (640, 400) and len(png) < MAX_CHART_BYTES
    assert charts.aggregate_chart_png(table(3)) == few
    stored, path = write_aggregate_chart(table(3), tmp_path)
    assert stored == few and path == UPath(tmp_path) / AGGREGATE_CHART_FILE
    assert Path(path.path).read_bytes() == few


def test_markdown_image_carries_the_png() -> None:
    png = charts.part_chart_png(_curve(100), "p")
    markdown = charts.markdown_image(png, "p: PnL and position")
    assert markdown.startswith("![p: PnL and position](data:image/png;base64,")
    encoded = markdown.removeprefix("![p: PnL and position](data:image/png;base64,")[:-1]
    assert base64.b64decode(encoded) == png


class _RecordReplay:
    """An adapter that 'runs' by copying a stored hftbacktest record: the real post-processing
    (curve, metrics, hashes, chart) runs in this process without compiling the engine."""

    name = "hftbacktest"

    def __init__(self, stats: Path) -> None:
        self.stats = stats

    def version(self) -> str:
        return "replay"

    def framework_sha(self) -> str | None:
        return None

    def backtest_in_process(
        self, config: BacktestConfig, part: object, out_dir: Path, warmup: object = ()
    ) -> EngineOutput:
        shutil.copy(self.stats, out_dir / STATS_FILE)
        return EngineOutput(out_dir / STATS_FILE, None, self.name, self.version(), None)


def test_a_chart_change_keeps_the_content_hash_and_readers_check_the_chart(
    tmp_path: Path,
    generated_parts: list[Path],
    hft_config: BacktestConfig,
    pool: WorkerPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine_run = backtest_part(
        hft_config, generated_parts[0], tmp_path / "engine", timeout_s=120, pool=pool
    )
    # The stored chart is the one drawn from the stored curve, whichever process draws it.
    assert engine_run.read_chart() == charts.part_chart_png(engine_run.read_curve(), "part-00000")
    assert CHART_FILE in engine_run.provenance["charts"]
    assert CHART_FILE not in engine_run.provenance["files"]
    assert CHART_FILE not in engine_run.provenance["canonical_files"]

    replay = _RecordReplay(Path(engine_run.directory) / STATS_FILE)
    monkeypatch.setattr(execution, "get_adapter", lambda name: replay)
    part = validate_part(generated_parts[0])
    documents = {}
    for variant, draw in {
        "drawn": charts.part_chart_png,
        "other": lambda curve, name: charts.part_chart_png(curve, f"{name} (another chart)"),
    }.items():
        monkeypatch.setattr(execution, "part_chart_png", draw)
        out = prepare_out_dir(tmp_path / variant)
        documents[variant] = execution.execute_backtest(hft_config, part, out)
    drawn, other = (documents[v]["provenance"] for v in ("drawn", "other"))
    assert drawn["charts"] != other["charts"]  # a different chart ...
    assert drawn["files"] == other["files"]
    assert drawn["content_hash"] == other["content_hash"] == engine_run.content_hash  # same content

    # Published: both charts are listed and verified; each version holds its own.
    versions = {
        variant: publish_result_files(tmp_path / variant, UPath(tmp_path / "stored" / variant))
        for variant in documents
    }
    assert versions["drawn"] != versions["other"]  # the version is named by every byte
    for variant in documents:
        stored = BacktestResult.load(tmp_path / "stored" / variant)
        stored.verify()
        assert stored.content_hash == engine_run.content_hash
        assert (
            json.loads((Path(stored.directory) / "result.json").read_text())["provenance"]["charts"]
            == documents[variant]["provenance"]["charts"]
        )
    damaged = BacktestResult.load(tmp_path / "stored" / "other")
    (Path(damaged.directory) / CHART_FILE).write_bytes(b"not the chart")
    with pytest.raises(ResultIntegrityError, match="chart.png has sha256"):
        damaged.verify()


def test_a_result_stored_before_charts_has_none(tmp_path: Path) -> None:
    result = BacktestResult("p", tmp_path, metrics={}, provenance={"files": {}})
    assert result.chart_path is None and result.read_chart() is None
    listed = dataclasses.replace(result, provenance={"files": {}, "charts": {CHART_FILE: "0"}})
    assert listed.chart_path == tmp_path / CHART_FILE


def test_the_benchmark_floor_runs_the_engine_port_without_drawing_charts(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    """``backtest_tasks(..., chart=False)``, the floor ``benchmarks`` measures against: the
    same result content, no chart file, none listed."""
    from trading_runtime.backtest.fan_out import BacktestTask, backtest_tasks

    outcomes = {
        chart: backtest_tasks(
            hft_config,
            [BacktestTask("part-00000", generated_parts[0], tmp_path / str(chart))],
            timeout_s=120,
            pool=pool,
            chart=chart,
        )["part-00000"]
        for chart in (True, False)
    }
    drawn, plain = outcomes[True], outcomes[False]
    assert isinstance(drawn, BacktestResult) and isinstance(plain, BacktestResult)
    assert plain.content_hash == drawn.content_hash
    assert plain.provenance["charts"] == {} and plain.read_chart() is None
    assert not (Path(plain.directory) / CHART_FILE).exists()
    assert drawn.read_chart() is not None
