"""`trading-runtime materialize` with raw files (issue 19, items 2 and 7): a raw file dropped
into the raw directory becomes parts, results and the aggregate in one command; a changed raw
file is converted again and only the parts it changed are backtested again."""

from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner
from conftest import WORKERS
from support.raw_files import binance_lines, write_gzip_lines

from trading_runtime.cli import main

RAW_KEY = "binancefutures-btcusdt_20240102.gz"
HOURS = ["BTCUSDT-20240102-0000", "BTCUSDT-20240102-0100", "BTCUSDT-20240102-0200"]


def test_materialize_converts_new_and_changed_raw_files_then_backtests_their_parts(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    raw = tmp_path / "raw" / "binancefutures" / "btcusdt_20240102.gz"
    env = {
        "DAGSTER_HOME": str(home),
        "TRADING_RUNTIME_PARTS_DIR": str(tmp_path / "parts"),
        "TRADING_RUNTIME_RAW_DIR": str(tmp_path / "raw"),
        "TRADING_RUNTIME_RESULTS": str(tmp_path / "results"),
        "TRADING_RUNTIME_WORKERS": str(WORKERS),
    }

    def materialize(exit_code: int = 0) -> str:
        result = CliRunner().invoke(main, ["materialize"], env=env)
        assert result.exit_code == exit_code, result.output
        return result.output

    write_gzip_lines(raw, binance_lines(minutes=150))
    first = materialize()
    assert "1 raw group(s) in" in first and "0 up to date, 1 to convert (1 new)" in first
    assert f"[1/1] ok     raw {RAW_KEY} -> 3 part(s): {', '.join(HOURS)}" in first
    assert "0 partition(s) up to date, 3 to backtest (3 no result)" in first
    assert f"[3/3] ok     {HOURS[2]}" in first
    table = pq.read_table(tmp_path / "results" / "aggregate_metrics.parquet")
    assert table["partition"].to_pylist() == [*HOURS, "TOTAL"]
    lineage = tmp_path / "parts" / "lineage" / f"{HOURS[0]}.json"
    assert lineage.is_file()

    again = materialize()
    assert "1 up to date, 0 to convert" in again
    assert "3 partition(s) up to date, 0 to backtest" in again

    # 90 minutes now: hour 0 keeps its bytes, hour 1 is shorter, hour 2 is gone.
    write_gzip_lines(raw, binance_lines(minutes=90))
    changed = materialize()
    assert "0 up to date, 1 to convert (1 raw changed)" in changed
    assert f"[1/1] ok     raw {RAW_KEY} -> 2 part(s)" in changed
    assert "1 partition(s) up to date, 1 to backtest (1 part changed)" in changed
    assert f"[1/1] ok     {HOURS[1]}" in changed and HOURS[0] + " (" not in changed
    assert f"(orphaned): {HOURS[2]}" in changed
    table = pq.read_table(tmp_path / "results" / "aggregate_metrics.parquet")
    assert table["partition"].to_pylist() == [*HOURS[:2], "TOTAL"]

    # A damaged raw file fails alone, named; the parts made before stay.
    raw.write_bytes(raw.read_bytes()[:200])
    broken = materialize(exit_code=1)
    assert f"FAILED raw {RAW_KEY}: raw file {raw}" in broken
    assert "1 raw group(s) failed" in broken
    assert "2 partition(s) up to date, 0 to backtest" in broken
