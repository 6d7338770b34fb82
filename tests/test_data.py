import itertools
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hftbacktest import EXCH_EVENT, LOCAL_EVENT, TRADE_EVENT
from hftbacktest.binding import event_dtype

from trading_runtime.cli import main
from trading_runtime.data.generate import GeneratorSpec, generate_parts
from trading_runtime.data.validate import PartValidationError, validate_part
from trading_runtime.storage import list_part_keys


def _bytes(paths: list[Path]) -> list[bytes]:
    return [p.read_bytes() for p in paths]


def test_same_arguments_same_bytes(tmp_path: Path) -> None:
    spec = GeneratorSpec(parts=2, events=3000, seed=5)
    first = generate_parts(spec, tmp_path / "a")
    second = generate_parts(spec, tmp_path / "b")
    assert _bytes(first) == _bytes(second)
    other = generate_parts(GeneratorSpec(parts=2, events=3000, seed=6), tmp_path / "c")
    assert _bytes(other) != _bytes(first)


def test_generated_parts_are_valid_and_contiguous(generated_parts: list[Path]) -> None:
    infos = [validate_part(p) for p in generated_parts]
    for info in infos:
        assert info.n_events == 4000
    for earlier, later in itertools.pairwise(infos):
        assert later.first_exch_ts > earlier.last_exch_ts
    data = np.load(generated_parts[0])["data"]
    assert data.dtype == event_dtype
    assert (data["local_ts"] >= data["exch_ts"]).all()
    assert (np.diff(data["exch_ts"]) >= 0).all()
    assert (data["ev"] & (EXCH_EVENT | LOCAL_EVENT) == EXCH_EVENT | LOCAL_EVENT).all()
    kinds = data["ev"] & 0xFF
    trades = data[kinds == TRADE_EVENT]
    assert len(trades) > 100
    assert set(np.unique(trades["ev"] >> 28 & 0b11)) == {1, 2}  # both buy and sell trades
    # Prices sit on the example config's 0.1 tick grid (the generator quotes on 0.5).
    ticks = data["px"] / 0.1
    assert np.allclose(ticks, np.round(ticks))


def test_validation_errors_name_file_and_problem(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    missing = tmp_path / "missing.npz"
    with pytest.raises(PartValidationError, match="missing.npz: file does not exist"):
        validate_part(missing)

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(generated_parts[0].read_bytes()[:1000])
    with pytest.raises(PartValidationError, match="truncated.npz: not a readable .npz"):
        validate_part(truncated)

    wrong = tmp_path / "wrong_dtype.npz"
    np.savez(wrong, data=np.zeros(10, dtype=np.float64))
    with pytest.raises(
        PartValidationError, match="wrong_dtype.npz: array 'data' has dtype float64"
    ):
        validate_part(wrong)

    empty = tmp_path / "empty.npz"
    np.savez(empty, data=np.zeros(0, dtype=event_dtype))
    with pytest.raises(PartValidationError, match="empty.npz: array 'data' is empty"):
        validate_part(empty)

    unordered = tmp_path / "unordered.npz"
    data = np.load(generated_parts[0])["data"].copy()
    data["exch_ts"][100], data["exch_ts"][2000] = data["exch_ts"][2000], data["exch_ts"][100]
    np.savez(unordered, data=data)
    with pytest.raises(PartValidationError, match="unordered.npz: timestamps are not monotonic"):
        validate_part(unordered)

    late = tmp_path / "late.npz"
    data = np.load(generated_parts[0])["data"].copy()
    data["local_ts"] = data["exch_ts"] - 1
    np.savez(late, data=data)
    with pytest.raises(PartValidationError, match="late.npz: row 0 has local_ts"):
        validate_part(late)

    unnamed = tmp_path / "unnamed.npz"
    np.savez(unnamed, events=np.load(generated_parts[0])["data"])
    with pytest.raises(PartValidationError, match="no array named 'data'"):
        validate_part(unnamed)


def test_npz_has_fixed_zip_timestamps(generated_parts: list[Path]) -> None:
    with zipfile.ZipFile(generated_parts[0]) as archive:
        assert [i.date_time for i in archive.infolist()] == [(1980, 1, 1, 0, 0, 0)]


def test_list_parts_sorted_and_ignores_hidden(tmp_path: Path, generated_parts: list[Path]) -> None:
    for name in ["b.npz", "a.npz", ".a.npz.123.tmp", ".hidden.npz", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert list_part_keys(tmp_path) == ["a", "b"]


def test_cli_generate_and_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "parts"
    result = runner.invoke(
        main,
        ["data", "generate", "--parts", "2", "--events", "500", "--seed", "1", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert len(list_part_keys(out)) == 2
    result = runner.invoke(
        main, ["data", "validate", *(str(out / f"{key}.npz") for key in list_part_keys(out))]
    )
    assert result.exit_code == 0 and result.output.count("ok ") == 2
    (out / "bad.npz").write_bytes(b"not a zip")
    result = runner.invoke(main, ["data", "validate", str(out / "bad.npz")])
    assert result.exit_code == 1
    result = runner.invoke(
        main,
        ["data", "generate", "--parts", "1", "--events", "5", "--seed", "1", "--out", str(out)],
    )
    assert result.exit_code != 0 and "events must be >=" in result.output
