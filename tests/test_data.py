import io
import itertools
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hftbacktest import DEPTH_CLEAR_EVENT, EXCH_EVENT, LOCAL_EVENT, TRADE_EVENT
from hftbacktest.binding import event_dtype

from trading_runtime.cli import main
from trading_runtime.config import (
    EXAMPLE_CONFIGS,
    apply_overrides,
    example_config_path,
    load_config,
)
from trading_runtime.data.config_fit import (
    check_part_fits_config,
    check_records_possible,
    check_roi_covers,
)
from trading_runtime.data.generate import GeneratorSpec, generate_parts
from trading_runtime.data.npz import write_npz_deterministic
from trading_runtime.data.parts_store import list_part_keys
from trading_runtime.data.validate import PartValidationError, load_part_events, validate_part


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
    # Prices sit on the generator's grid, which the example configs quote as their tick size
    # (a finer tick in the config would let resting orders sit between the data's levels).
    for adapter in EXAMPLE_CONFIGS:
        assert load_config(example_config_path(adapter)).engine.tick_size == GeneratorSpec.tick_size
    ticks = data["px"] / GeneratorSpec.tick_size
    assert np.array_equal(ticks, np.round(ticks))


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


def _npz_via_writestr(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """The reference bytes: each array serialised whole by numpy, then stored by writestr."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


@pytest.mark.parametrize(
    "arrays",
    [
        {"data": np.zeros(1000, event_dtype)},
        {"data": np.zeros(0, event_dtype)},
        {"0": np.arange(150.0).reshape(50, 3), "a": np.arange(10), "b": np.zeros(0, np.float32)},
        {"x": np.asfortranarray(np.arange(120.0).reshape(30, 4)), "y": np.arange(100)[::3]},
    ],
    ids=["events", "empty", "several", "fortran-and-strided"],
)
def test_npz_streamed_members_have_the_bytes_of_whole_ones(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    """The writer streams each array into its member (no copy of a big part in memory); the
    bytes are those of the array serialised whole and stored with writestr, as before."""
    write_npz_deterministic(tmp_path / "streamed.npz", arrays)
    _npz_via_writestr(tmp_path / "whole.npz", arrays)
    assert (tmp_path / "streamed.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    with np.load(tmp_path / "streamed.npz") as archive:
        assert all(np.array_equal(archive[name], arrays[name]) for name in arrays)


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


def _events(generated_parts: list[Path]) -> np.ndarray:
    return np.load(generated_parts[0])["data"].copy()


def _save(path: Path, data: np.ndarray) -> Path:
    np.savez(path, data=data)
    return path


def _nan_px(data: np.ndarray) -> np.ndarray:
    data["px"][123] = np.nan
    return data


def _inf_qty(data: np.ndarray) -> np.ndarray:
    data["qty"][5] = np.inf
    return data


def _seconds(data: np.ndarray) -> np.ndarray:
    data["exch_ts"] //= 10**9
    data["local_ts"] //= 10**9
    return data


def _far_future(data: np.ndarray) -> np.ndarray:
    data["local_ts"][77:] = 2**62  # year 2116
    return data


def _one_instant(data: np.ndarray) -> np.ndarray:
    data = data[:20]  # the opening book: one exchange timestamp
    data["local_ts"] = data["exch_ts"]
    return data


def _no_market(data: np.ndarray) -> np.ndarray:
    data["ev"] = EXCH_EVENT | LOCAL_EVENT | DEPTH_CLEAR_EVENT
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_nan_px, "row 123 has px nan; prices and quantities must be finite"),
        (_inf_qty, "row 5 has qty inf"),
        (_seconds, "row 0 has exch_ts 1700000000, outside years 2000-2100"),
        (_far_future, "row 77 has local_ts 4611686018427387904, outside years 2000-2100"),
        (lambda data: data[:1], "only 1 event; a part needs at least 2 events"),
        (_one_instant, "all 20 events are at one instant"),
        (_no_market, r"no depth or trade events \(event kinds in the low byte of 'ev': \[3\]\)"),
    ],
    ids=["nan_px", "inf_qty", "seconds", "far_future", "one_event", "one_instant", "no_market"],
)
def test_values_that_mean_nothing_fail_naming_file_row_and_column(
    tmp_path: Path, generated_parts: list[Path], change: Any, expected: str
) -> None:
    path = _save(tmp_path / "bad.npz", change(_events(generated_parts)))
    with pytest.raises(PartValidationError, match=f"part {tmp_path}/bad.npz: {expected}"):
        validate_part(path)


def test_out_of_order_row_is_named(tmp_path: Path, generated_parts: list[Path]) -> None:
    data = _events(generated_parts)
    data["exch_ts"][100], data["exch_ts"][2000] = data["exch_ts"][2000], data["exch_ts"][100]
    path = _save(tmp_path / "unordered.npz", data)
    with pytest.raises(
        PartValidationError, match=r"not monotonic: row 101 has exch_ts \d+, before"
    ):
        validate_part(path)


def test_files_that_are_not_event_archives_say_what_they_are(tmp_path: Path) -> None:
    text = tmp_path / "text.npz"
    text.write_text("hello, not numbers\n")
    with pytest.raises(
        PartValidationError,
        match=r"text.npz: not a readable .npz file: not a zip archive \(it starts with b'hell'\);"
        r" expected an .npz archive of hftbacktest events",
    ):
        validate_part(text)

    empty = tmp_path / "empty_file.npz"
    empty.write_bytes(b"")
    with pytest.raises(
        PartValidationError, match=r"empty_file.npz: not a readable .npz file: the file is empty"
    ):
        validate_part(empty)

    npy = tmp_path / "single.npz"
    with open(npy, "wb") as handle:
        np.save(handle, np.zeros(3, dtype=event_dtype))
    with pytest.raises(
        PartValidationError, match=r"single.npz: not a readable .npz file: it holds a single .npy"
    ):
        validate_part(npy)

    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, data=np.array([{"px": 1.0}], dtype=object))
    with pytest.raises(PartValidationError, match="pickled.npz: array 'data' holds pickled Python"):
        validate_part(pickled)

    square = tmp_path / "square.npz"
    np.savez(square, data=np.zeros((2, 2), dtype=event_dtype))
    with pytest.raises(PartValidationError, match=r"square.npz: .* shape \(2, 2\), expected 1-D"):
        validate_part(square)


def test_header_declaring_more_rows_than_stored_fails_before_allocating(tmp_path: Path) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header,
        {
            "descr": np.lib.format.dtype_to_descr(event_dtype),
            "fortran_order": False,
            "shape": (10**12,),
        },
    )
    path = tmp_path / "lying.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.npy", header.getvalue() + bytes(64 * 3))
    with pytest.raises(PartValidationError, match="lying.npz: .*declares 1000000000000 rows"):
        validate_part(path)


def test_part_info_has_the_price_range_of_depth_and_trade_events(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    data = _events(generated_parts)
    info = validate_part(generated_parts[0])
    assert (info.min_px, info.max_px) == (data["px"].min(), data["px"].max())
    # A clear event's px is a bound, not a price: it does not widen the range.
    cleared = np.concatenate([data, data[-1:]])
    cleared["ev"][-1] = EXCH_EVENT | LOCAL_EVENT | DEPTH_CLEAR_EVENT
    cleared["px"][-1] = 1e9
    assert validate_part(_save(tmp_path / "cleared.npz", cleared)).max_px == data["px"].max()


def test_roi_must_cover_the_part_touch(generated_parts: list[Path]) -> None:
    config = load_config(example_config_path("hftbacktest"))
    info = validate_part(generated_parts[0])
    assert info.touch_min_px is not None and info.touch_max_px is not None
    check_roi_covers(config, info)
    check_part_fits_config(config, info)
    narrow = apply_overrides(
        config, {"engine.depth.roi_lb": 30000, "engine.depth.roi_ub": info.touch_max_px - 1}
    )
    message = (
        rf"part {generated_parts[0]}: best bid/ask and trade prices"
        rf" {info.touch_min_px:g}\.\.{info.touch_max_px:g} are not inside config"
        rf" 'market_maker_hftbacktest_v1'\'s ROI engine.depth.roi_lb\.\.roi_ub ="
        rf" 30000\.\.{info.touch_max_px - 1:g}"
    )
    with pytest.raises(PartValidationError, match=message):
        check_roi_covers(narrow, info)
    with pytest.raises(PartValidationError, match=message):
        check_part_fits_config(narrow, info)
    # The bounds themselves are inside.
    exact = apply_overrides(
        config, {"engine.depth.roi_lb": info.touch_min_px, "engine.depth.roi_ub": info.touch_max_px}
    )
    check_roi_covers(exact, info)


def test_a_part_shorter_than_one_record_interval_fails(
    tmp_path: Path, generated_parts: list[Path]
) -> None:
    info = validate_part(_save(tmp_path / "short.npz", _events(generated_parts)[:60]))
    span = info.last_local_ts - info.first_exch_ts
    check_records_possible(info, span)  # one record, at first_exch_ts + span
    with pytest.raises(
        PartValidationError,
        match=rf"short.npz: spans {span / 1e6:g} ms \(first exch_ts to last local_ts\), shorter"
        rf" than one record interval \(strategy.interval_ns = {(span + 1) / 1e6:g} ms\)",
    ):
        check_records_possible(info, span + 1)
    config = load_config(example_config_path("hftbacktest"))
    check_part_fits_config(apply_overrides(config, {"strategy.interval_ns": span}), info)
    with pytest.raises(PartValidationError, match="shorter than one record interval"):
        check_part_fits_config(apply_overrides(config, {"strategy.interval_ns": span + 1}), info)
    # More intervals than the recorder holds: refused before the engine runs out of room.
    records = (info.last_local_ts - info.first_exch_ts) // 1_000_000
    check_records_possible(info, 1_000_000, max_steps=records + 1)
    with pytest.raises(
        PartValidationError,
        match=rf"short.npz: spans {span / 1e6:g} ms, {records} record intervals of"
        rf" strategy.interval_ns = 1 ms; the recorder \(engine.max_steps = {records}\) holds"
        rf" {records - 1}: raise max_steps",
    ):
        check_part_fits_config(
            apply_overrides(
                config, {"strategy.interval_ns": 1_000_000, "engine.max_steps": records}
            ),
            info,
        )
    # No interval in the config (the strategy's default applies): only the ROI is checked here.
    unset = config.model_copy(
        update={"strategy": config.strategy.model_copy(update={"params": {}})}
    )
    check_part_fits_config(unset, info)


def test_sample_parts_fit_the_example_configs() -> None:
    parts = sorted((Path(__file__).parents[1] / "data" / "parts").glob("*.npz"))
    assert parts
    for adapter in EXAMPLE_CONFIGS:
        config = load_config(example_config_path(adapter))
        for part in parts:
            info = validate_part(part)
            check_part_fits_config(config, info)
            data = load_part_events(part)
            ticks = data["px"] / config.engine.tick_size
            assert np.array_equal(ticks, np.round(ticks)), (adapter, part)
