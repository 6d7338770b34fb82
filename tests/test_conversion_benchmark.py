"""The conversion benchmark (``python -m benchmarks.conversion``) runs: a tiny measurement, in
this process, gives both sides per format with positive throughputs (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import conversion


def test_the_measurement_gives_every_side_of_every_format(tmp_path: Path) -> None:
    rows = conversion.measure(
        list(conversion.FORMATS), lines=1000, repeats=1, work=tmp_path, fresh=False, warm_lines=400
    )
    assert [(r.raw_format, r.side) for r in rows] == [
        (f, s) for f in conversion.FORMATS for s in conversion.SIDES
    ]
    for row in rows:
        assert row.raw_lines > 900 and row.events > 0 and row.median_s > 0, row
        assert row.raw_lines / row.median_s > 0 and row.events / row.median_s > 0
    table = conversion.table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    for raw_format in conversion.FORMATS:
        mine = [line for line in table if line.startswith(f"| {raw_format} |")]
        assert any("| floor" in line for line in mine)
        assert any(
            "| runtime (window none" in line and ("PASS" in line or "FAIL" in line) for line in mine
        )
