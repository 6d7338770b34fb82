"""The one run-and-publish path: keys from locations, staging that never outlives a batch,
publication to <out>/<part>/, and validation that names the part's location."""

from pathlib import Path

import pytest

from trading_runtime.backtest.inputs import keyed_locations, validate_parts
from trading_runtime.backtest.pool import WorkerPool
from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.backtest.staging import stage_backtests
from trading_runtime.config import BacktestConfig
from trading_runtime.data.validate import PartInfo, PartValidationError
from trading_runtime.layout import RESULT_FILE, VERSIONS_DIR, part_file_name, part_key
from trading_runtime.results import BacktestResult


@pytest.mark.parametrize(
    ("location", "key"),
    [
        ("data/parts/part-00001.npz", "part-00001"),
        ("s3://bucket/prefix/p.2024-01-01.npz", "p.2024-01-01"),
        (Path("/abs/p1.npz"), "p1"),
        ("p1", "p1"),
    ],
)
def test_part_key_is_the_file_name_without_npz(location: str | Path, key: str) -> None:
    assert part_key(location) == key
    assert part_key(part_file_name(key)) == key


def test_publish_puts_results_under_out_and_reports_a_missing_part(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig
) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "gone.npz"
    parts = keyed_locations([*generated_parts[:2], missing])
    outcomes = backtest_and_publish(hft_config, parts, out, timeout_s=120, workers=2)
    assert list(outcomes) == ["gone", "part-00000", "part-00001"]
    assert isinstance(outcomes["gone"], PartValidationError)
    assert "gone.npz: file does not exist" in str(outcomes["gone"])
    for key in ("part-00000", "part-00001"):
        result = outcomes[key]
        assert isinstance(result, BacktestResult)
        assert Path(str(result.directory)).parent == out / key / VERSIONS_DIR
        assert (out / key / RESULT_FILE).is_file()
        stored = BacktestResult.load(out / key)
        assert stored.content_hash == result.content_hash
        assert stored.directory == result.directory
        stored.verify()
    # Only the published results are left: no staging, no downloaded parts.
    assert sorted(p.name for p in out.iterdir()) == ["part-00000", "part-00001"]
    assert sorted(p.name for p in (out / "part-00000").iterdir()) == [RESULT_FILE, VERSIONS_DIR]


def test_two_parts_with_one_name_are_refused(tmp_path: Path, generated_parts: list[Path]) -> None:
    twin = tmp_path / "elsewhere" / generated_parts[0].name
    twin.parent.mkdir()
    twin.write_bytes(generated_parts[0].read_bytes())
    with pytest.raises(ValueError, match="same name \\(partition key\\): part-00000"):
        keyed_locations([generated_parts[0], twin])


def test_staged_results_are_removed_unless_published(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    parts = keyed_locations(generated_parts[:2])
    with stage_backtests(
        hft_config, parts, staging_base=tmp_path, timeout_s=120, pool=pool
    ) as staged:
        assert not staged.failures and sorted(staged.results) == ["part-00000", "part-00001"]
        assert staged.staging.parent == tmp_path and staged.staging.is_dir()
        assert not (staged.staging / ".parts").exists()  # downloads go once the engine ran
    assert not staged.staging.exists()
    assert list(tmp_path.iterdir()) == []


def test_validation_names_each_part_by_its_location(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    parts = keyed_locations([generated_parts[0], broken, tmp_path / "gone.npz"])
    outcomes = validate_parts(parts, timeout_s=60, workers=2)
    assert list(outcomes) == ["broken", "gone", "part-00000"]
    info = outcomes["part-00000"]
    assert isinstance(info, PartInfo) and info.path == str(generated_parts[0])
    assert f"part {broken}: not a readable .npz file" in str(outcomes["broken"])
    assert f"part {tmp_path / 'gone.npz'}: file does not exist" in str(outcomes["gone"])


def test_keys_given_by_the_caller_are_kept(
    tmp_path: Path, generated_parts: list[Path], hft_config: BacktestConfig, pool: WorkerPool
) -> None:
    # A partition key is the caller's (Dagster's), not re-derived from the file name.
    parts = {"day/one": generated_parts[0]}
    with stage_backtests(hft_config, parts, staging_base=tmp_path, pool=pool) as staged:
        assert list(staged.results) == ["day/one"]
    assert list(validate_parts(parts, workers=2)) == ["day/one"]


def test_a_batch_of_missing_parts_starts_no_worker(
    tmp_path: Path, hft_config: BacktestConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trading_runtime.backtest.fan_out

    def no_pool(*args: object) -> None:
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(trading_runtime.backtest.fan_out, "pool_for", no_pool)
    outcomes = backtest_and_publish(hft_config, {"gone": tmp_path / "gone.npz"}, tmp_path / "out")
    assert isinstance(outcomes["gone"], PartValidationError)


def test_the_code_version_hashes_every_code_input() -> None:
    from trading_runtime.freshness.code_version import _CODE_VERSION_LABELS
    from trading_runtime.results import CODE_INPUTS

    assert set(_CODE_VERSION_LABELS) == set(CODE_INPUTS)
