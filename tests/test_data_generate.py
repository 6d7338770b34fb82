"""`trading-runtime data generate`: never overwrites without --force; --prefix names parts."""

from pathlib import Path

from click.testing import CliRunner

from trading_runtime.cli import main

ARGS = ["data", "generate", "--parts", "2", "--events", "100", "--seed", "1"]


def test_generate_refuses_to_overwrite_existing_parts_without_force(tmp_path: Path) -> None:
    out = tmp_path / "parts"
    first = CliRunner().invoke(main, [*ARGS, "--out", str(out)])
    assert first.exit_code == 0, first.output
    mine = out / "part-00000.npz"
    mine.write_bytes(b"my own part")  # someone's part under a generated name
    again = CliRunner().invoke(main, [*ARGS, "--seed", "2", "--out", str(out)])
    assert again.exit_code != 0
    assert "part-00000.npz" in again.output and "--force" in again.output
    assert mine.read_bytes() == b"my own part"  # nothing overwritten, nothing written
    forced = CliRunner().invoke(main, [*ARGS, "--seed", "2", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert mine.read_bytes() != b"my own part"


def test_generate_prefix_puts_parts_beside_others(tmp_path: Path) -> None:
    out = tmp_path / "parts"
    assert CliRunner().invoke(main, [*ARGS, "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    beside = CliRunner().invoke(main, [*ARGS, "--out", str(out), "--prefix", "synth-"])
    assert beside.exit_code == 0, beside.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["part-00000.npz", "part-00001.npz", "synth-00000.npz", "synth-00001.npz"]
    assert {name: (out / name).read_bytes() for name in before} == before


def test_generate_refuses_a_prefix_that_makes_no_part_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, [*ARGS, "--out", str(tmp_path), "--prefix", "a/b"])
    assert result.exit_code == 2 and "prefix 'a/b' makes no part name" in result.output
    assert list(tmp_path.iterdir()) == []
