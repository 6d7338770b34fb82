"""A worker validates a part's bytes once: the validation run's check, and every later backtest of
the same bytes (another variant of a sweep, a warm-up part), reuse its facts."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from trading_runtime.backtest import worker
from trading_runtime.backtest.pool import backtest_args
from trading_runtime.config import BacktestConfig
from trading_runtime.data import validate
from trading_runtime.data.touch import count_depth_outside
from trading_runtime.data.validate import load_part_events


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A fresh worker's memory; the paths the touch replay (validation's costliest pass) ran on."""
    monkeypatch.setattr(worker, "_validated", {})
    monkeypatch.setattr(worker, "_outside", {})
    seen: list[Path] = []
    replay = validate.touch_range

    def counted(data: Any) -> Any:
        seen.append(Path("replayed"))
        return replay(data)

    monkeypatch.setattr(validate, "touch_range", counted)
    return seen


def _facts(info: validate.PartInfo) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(info).items() if k not in ("path", "name")}


def test_the_same_bytes_are_validated_once_and_named_by_their_own_path(
    tmp_path: Path, generated_parts: list[Path], replays: list[Path]
) -> None:
    first = worker.validate_in_worker(str(generated_parts[0]))
    assert len(replays) == 1
    copy = tmp_path / "elsewhere" / "part-00042.npz"
    copy.parent.mkdir()
    shutil.copy(generated_parts[0], copy)
    known, events = worker._scored_part(copy)
    assert len(replays) == 1 and events is None  # hashed, not decoded again
    assert known.path == str(copy) and known.name == "part-00042"
    assert _facts(known) == _facts(first) == _facts(validate.validate_part(copy))
    other, events = worker._scored_part(generated_parts[1])  # other bytes: validated
    assert events is not None and len(replays) == 3  # (and once more just above)
    assert _facts(other) == _facts(validate.validate_part(generated_parts[1]))


def test_validating_known_bytes_again_reuses_their_facts(
    tmp_path: Path, generated_parts: list[Path], replays: list[Path]
) -> None:
    """The validation run in a warm process (the engine service, a sweep): known bytes are
    hashed; bytes that changed at the same path are validated."""
    part = tmp_path / "part-00000.npz"
    shutil.copy(generated_parts[0], part)
    first = worker.validate_in_worker(str(part))
    again = worker.validate_in_worker(str(part))
    assert len(replays) == 1
    assert again == first == validate.validate_part(part)
    shutil.copy(generated_parts[1], part)  # new bytes under the same name
    changed = worker.validate_in_worker(str(part))
    assert len(replays) == 3  # (and once more above, outside the worker)
    assert changed.sha256 != first.sha256
    assert _facts(changed) == _facts(validate.validate_part(generated_parts[1]))


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_path_that_is_no_file_fails_as_validation_says(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "part-00000.npz"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(validate.PartValidationError) as expected:
        validate.validate_part(path)
    for check in (worker.validate_in_worker, worker._scored_part):
        with pytest.raises(validate.PartValidationError) as raised:
            check(path)  # type: ignore[operator]
        assert str(raised.value) == str(expected.value)


def test_a_part_that_fails_is_checked_again_every_time(tmp_path: Path, replays: list[Path]) -> None:
    bad = tmp_path / "part-00000.npz"
    bad.write_bytes(b"not a part")
    for check in (worker._scored_part, worker.validate_in_worker) * 2:
        with pytest.raises(validate.PartValidationError):
            check(bad)  # type: ignore[operator]
    assert worker._validated == {}


def test_depth_outside_the_roi_is_counted_once_per_bytes_and_range(
    generated_parts: list[Path], replays: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    part, events = worker._scored_part(generated_parts[0])
    assert events is not None
    expected = count_depth_outside(load_part_events(generated_parts[0]), 60_000.0, 60_010.0)
    assert worker._depth_outside_roi(part, events, 60_000.0, 60_010.0) == expected > 0
    monkeypatch.setattr(worker, "load_part_events", lambda path: pytest.fail("decoded again"))
    assert worker._depth_outside_roi(part, None, 60_000.0, 60_010.0) == expected
    wider = count_depth_outside(load_part_events(generated_parts[0]), 50_000.0, 70_000.0)
    monkeypatch.undo()
    assert worker._depth_outside_roi(part, None, 50_000.0, 70_000.0) == wider


def test_a_backtest_of_known_bytes_gets_the_facts_and_roi_of_a_fresh_validation(
    tmp_path: Path,
    generated_parts: list[Path],
    hft_config: BacktestConfig,
    replays: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the engine is given is the same whether the worker knew the part or not."""
    given: list[tuple[validate.PartInfo, Any]] = []

    def engine(config: Any, part: Any, out_dir: Path, warmup: Any, roi: Any, chart: Any) -> Any:
        given.append((part, roi))
        return {}

    monkeypatch.setattr(worker, "_prepare", lambda config, part, roi: None)
    monkeypatch.setattr(worker, "execute_backtest", engine)
    for run in ("first", "second"):
        out = tmp_path / run
        out.mkdir()
        worker._backtest(*backtest_args(hft_config, generated_parts[0], out, 60, 60, [], True))
    assert len(replays) == 1  # the second backtest reused the first one's validation
    (first_part, first_roi), (second_part, second_roi) = given
    assert _facts(first_part) == _facts(second_part) and first_part.name == second_part.name
    assert first_roi == second_roi and first_roi.depth_outside_roi is not None
