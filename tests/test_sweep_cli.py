"""A sweep run locally (no Dagster, the Argo batch's layout) and ranked by `leaderboard`: a
variant's result equals `backtest --set` with the same overrides; the ledger of trials grows
across sweeps; a bad sweep fails in one line before anything runs."""

import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner
from PIL import Image

from trading_runtime.cli import main
from trading_runtime.config import example_config_path
from trading_runtime.results import BacktestResult

CONFIG = str(example_config_path("hftbacktest"))


def _write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_a_sweep_runs_locally_and_the_leaderboard_ranks_it(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    parts = [f"--part={p}" for p in generated_parts]
    grid = _write(tmp_path / "grid.json", {"strategy.quote_offset_ticks": [0, 1]})
    out = tmp_path / "sweep"
    ran = CliRunner().invoke(
        main, ["sweep", "--config", CONFIG, "--sweep", grid, *parts, "--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    assert "sweeping 2 variant(s) x 3 part(s)" in ran.output
    (one,) = [line for line in ran.output.splitlines() if "quote_offset_ticks=1-" in line]
    key = one.split()[1].rstrip(":")
    variant_id = key.rsplit("-", 1)[1]

    # The variant's stored result is what `backtest --set` stores for the same overrides.
    single = tmp_path / "single"
    plain = CliRunner().invoke(
        main,
        [
            "backtest",
            "--config",
            CONFIG,
            parts[0],
            "--set",
            "strategy.quote_offset_ticks=1",
            "--out",
            str(single),
        ],
    )
    assert plain.exit_code == 0, plain.output
    swept = BacktestResult.load(out / variant_id / "backtest_results" / "part-00000")
    assert swept.content_hash == BacktestResult.load(single / "part-00000").content_hash

    ranked = CliRunner().invoke(
        main,
        [
            "leaderboard",
            "--config",
            CONFIG,
            "--sweep",
            grid,
            "--results",
            str(out),
            "--window",
            "1",
        ],
    )
    assert ranked.exit_code == 0, ranked.output
    assert "probability of backtest overfitting (CSCV, S=2 blocks of 3 parts)" in ranked.output
    assert "deflated Sharpe ratio" in ranked.output and "(N = 2 trials)" in ranked.output
    assert "walk-forward (window 1 parts)" in ranked.output
    table = pq.read_table(out / "leaderboard.parquet").to_pylist()
    swept = sorted(line.split()[1].rstrip(":") for line in ran.output.splitlines() if "] " in line)
    assert sorted(row["key"] for row in table) == swept and key in swept
    assert [row["rank"] for row in table] == [1, 2]
    assert table[0]["mean"] >= table[1]["mean"]  # ranked by mean per-part PnL
    assert all(row["parts"] == 3 and row["missing"] == 0 for row in table)
    totals = {row["key"]: row["total"] for row in table}
    pnl = sum(
        BacktestResult.load(out / variant_id / "backtest_results" / p.stem).metrics["pnl"]
        for p in generated_parts
    )
    assert abs(totals[key] - pnl) < 1e-9
    summary = json.loads((out / "leaderboard.json").read_text())
    assert summary["parts"] == ["part-00000", "part-00001", "part-00002"]
    assert summary["pbo"]["blocks"] == 2 and summary["best"]["trials"] == 2
    for name in ("heatmap", "parameters", "walk_forward"):
        with Image.open(out / f"leaderboard_{name}.png") as image:
            assert image.size == (640, 400)

    # Without --window: 3 by default, but one part fewer than the 3 parts here.
    default = CliRunner().invoke(
        main, ["leaderboard", "--config", CONFIG, "--sweep", grid, "--results", str(out)]
    )
    assert default.exit_code == 0, default.output
    assert "walk-forward (window 2 parts)" in default.output

    # A second sweep over the same base config counts every variant ever run (the ledger).
    more = _write(tmp_path / "more.json", [{"strategy.quote_offset_ticks": 2}])
    ran = CliRunner().invoke(
        main, ["sweep", "--config", CONFIG, "--sweep", more, parts[0], "--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    ranked = CliRunner().invoke(
        main, ["leaderboard", "--config", CONFIG, "--sweep", more, "--results", str(out)]
    )
    assert ranked.exit_code == 0, ranked.output
    assert "(N = 3 trials)" in ranked.output


def test_the_documented_sweep_file_plans_six_variants() -> None:
    from trading_runtime.config import load_config
    from trading_runtime.sweeps.planning import plan_variants
    from trading_runtime.sweeps.sweep_file import load_sweep_file

    docs = Path(__file__).resolve().parents[1] / "docs" / "examples" / "sweep.json"
    variants = plan_variants(load_config(CONFIG), load_sweep_file(docs))
    assert [v.key.rsplit("-", 1)[0] for v in variants][:2] == [
        "order_qty=0.1_quote_offset_ticks=0",
        "order_qty=0.1_quote_offset_ticks=1",
    ]
    assert len(variants) == 6


def test_the_documented_order_sizes_fit_the_example_limit_and_0_2_does_not() -> None:
    """docs/sweeps.md: every variant of the example sweep fits the example config's 10,000 per
    order on the sample parts; 0.2 at about 60,000 would not."""
    import pytest

    from trading_runtime.config import apply_overrides, load_config
    from trading_runtime.data.config_fit import check_order_size
    from trading_runtime.data.validate import PartValidationError, validate_part
    from trading_runtime.sweeps.planning import plan_variants
    from trading_runtime.sweeps.sweep_file import load_sweep_file

    root = Path(__file__).resolve().parents[1]
    base = load_config(CONFIG)
    parts = [validate_part(p) for p in sorted((root / "data" / "parts").glob("*.npz"))]
    for variant in plan_variants(base, load_sweep_file(root / "docs" / "examples" / "sweep.json")):
        config = apply_overrides(base, variant.overrides)
        for part in parts:
            check_order_size(config, part)
    with pytest.raises(PartValidationError, match="max_single_order_notional = 10000"):
        check_order_size(apply_overrides(base, {"strategy.order_qty": 0.2}), parts[0])


def test_a_bad_sweep_fails_in_one_line_before_anything_runs(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    out = tmp_path / "sweep"
    for document, expected in (
        ({"strategy.quote_ofset_ticks": [0, 1]}, "quote_ofset_ticks"),
        ({"strategy.quote_offset_ticks": []}, "quote_offset_ticks"),
        ([{"strategy.order_qty": 0.1}, {"strategy.order_qty": 0.1}], "same"),
    ):
        sweep = _write(tmp_path / "bad.json", document)
        ran = CliRunner().invoke(
            main,
            [
                "sweep",
                "--config",
                CONFIG,
                "--sweep",
                sweep,
                f"--part={generated_parts[0]}",
                "--out",
                str(out),
            ],
        )
        assert ran.exit_code == 1, ran.output
        (line,) = ran.output.strip().splitlines()
        assert line.startswith("Error: ") and expected in line and "bad.json" in line, line
        assert not out.exists()  # nothing ran, nothing stored
