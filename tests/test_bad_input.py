"""Property-based bad input: config documents and part files either work or fail with one clear
error naming what is wrong; no other exception escapes, and nothing stored changes."""

from __future__ import annotations

import copy
import io
import json
import math
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hftbacktest import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
)
from hftbacktest.binding import event_dtype
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trading_runtime.backtest.publish import backtest_and_publish
from trading_runtime.config import (
    EXAMPLE_CONFIGS,
    BacktestConfig,
    ConfigError,
    apply_overrides,
    example_config_path,
    load_config,
    parse_config,
)
from trading_runtime.data.generate import GeneratorSpec, generate_part
from trading_runtime.data.validate import (
    MAX_TS_NS,
    MIN_TS_NS,
    PartValidationError,
    sha256_file,
    validate_part,
)
from trading_runtime.results import BacktestResult

EXAMPLES = {
    adapter: json.loads(example_config_path(adapter).read_text()) for adapter in EXAMPLE_CONFIGS
}
# Bounded so the whole file runs in well under a minute; deadline off because the first example
# pays for imports and a loaded CI machine varies; no example database in the checkout (a
# failure prints the example and the seed to reproduce it).
FAST = settings(
    max_examples=300,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EDGE_NUMBERS = st.sampled_from(
    [
        *(0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30),
        *(0.1, -0.0, 1e-320, 1e308, -1e308, math.nan, math.inf, -math.inf),
    ]
)
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | EDGE_NUMBERS | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
NEW_KEYS = st.from_regex(r"[a-z_]{3,12}", fullmatch=True)


# --- config documents -------------------------------------------------------------------------


def _key_paths(node: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in node.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _key_paths(value, (*prefix, key))


def _node(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        document = document[key]
    return document


def _same_kind(value: Any) -> st.SearchStrategy[Any]:
    """Values of the kind already there: plausible edits, mostly in range, sometimes not."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int | float):
        return st.integers(-(10**6), 10**12) | st.floats(-1e6, 1e6) | EDGE_NUMBERS
    if isinstance(value, str):
        return st.text(max_size=12) | st.just(value + "x")
    return JSON_VALUES


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    """An example config with 1-3 keys edited (a value of the same kind), replaced (any JSON
    value), deleted or added."""
    document = copy.deepcopy(EXAMPLES[draw(st.sampled_from(sorted(EXAMPLES)))])
    touched = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_key_paths(document))))
        parent = _node(document, path[:-1])
        action = draw(st.sampled_from(["edit", "edit", "replace", "delete", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "edit":
            parent[path[-1]] = draw(_same_kind(parent[path[-1]]))
        else:
            if action == "add":
                path = (*path[:-1], draw(NEW_KEYS))
            parent[path[-1]] = draw(JSON_VALUES | EDGE_NUMBERS)
        touched.append(path)
    return document, touched


def _names_a_touched_field(message: str, touched: list[tuple[str, ...]]) -> bool:
    """Every error line is ``  <field path>: <problem>``; some line must be about a changed
    field: its path, something under it, or a section whose check names the field."""
    for line in message.splitlines()[1:]:
        location, _, problem = line.strip().partition(": ")
        for path in touched:
            dotted = ".".join(path)
            if location == dotted or location.startswith(f"{dotted}."):
                return True
            if dotted.startswith(f"{location}.") and path[-1] in problem:
                return True
            # A cross-field check on another section that names this top-level field
            # (``engine: ... adapter 'hftbacktest' does not run it``).
            if len(path) == 1 and f"{dotted} " in problem:
                return True
    return False


def _assert_reaches_a_worker_unchanged(config: BacktestConfig) -> None:
    """Workers receive the config as JSON: they must parse the same config, with the same hash."""
    again = parse_config(json.loads(config.model_dump_json()), "<worker>")
    assert again == config
    assert again.config_hash() == config.config_hash()


@FAST
@given(case=mutated_documents())
def test_config_documents_parse_or_name_the_field(
    case: tuple[dict[str, Any], list[tuple[str, ...]]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    document, touched = case
    with tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as scratch:
        path = Path(scratch) / "mutated.json"
        path.write_text(json.dumps(document))
        try:
            config = load_config(path)
        except ConfigError as exc:
            message = str(exc)
            assert message.startswith(f"invalid backtest config {path}:\n"), message
            assert _names_a_touched_field(message, touched), (touched, message)
            event("refused")
            return
    event("parsed")
    _assert_reaches_a_worker_unchanged(config)


DOTTED_KEYS = st.sampled_from(
    [".".join(path) for example in EXAMPLES.values() for path in _key_paths(example)]
) | st.lists(
    st.sampled_from(["engine", "strategy", "risk", "params", "tick_size", "roi_lb", "extra", "id"])
    | NEW_KEYS
    | st.just(""),
    min_size=1,
    max_size=4,
).map(".".join)


@FAST
@given(overrides=st.dictionaries(DOTTED_KEYS, JSON_VALUES | EDGE_NUMBERS, max_size=3))
def test_overrides_apply_or_fail_with_a_config_error(overrides: dict[str, Any]) -> None:
    base = load_config(example_config_path("hftbacktest"))
    try:
        config = apply_overrides(base, overrides, "base.json")
    except ConfigError as exc:
        assert any(key in str(exc) for key in overrides), str(exc)
        event("refused")
        return
    event("applied")
    _assert_reaches_a_worker_unchanged(config)


# --- part files -------------------------------------------------------------------------------


def _base_events() -> np.ndarray:
    spec = GeneratorSpec(parts=1, events=60, seed=3)
    events, _, _ = generate_part(
        spec, np.random.default_rng(3), spec.start_ts_ns, round(spec.start_price / spec.tick_size)
    )
    return events


BASE_EVENTS = _base_events()
TIMESTAMPS = st.integers(-(2**63), 2**63 - 1) | st.sampled_from(
    [0, -1, MIN_TS_NS - 1, MIN_TS_NS, MAX_TS_NS - 1, MAX_TS_NS, 1_700_000_000, 1_700_000_000_000]
)
FLOATS = st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e308, 1e-300])
FLAGS = st.integers(0, 2**64 - 1) | st.sampled_from(
    [
        EXCH_EVENT | LOCAL_EVENT | kind | side
        for kind in (DEPTH_EVENT, TRADE_EVENT, DEPTH_CLEAR_EVENT, 0xFF)
        for side in (0, BUY_EVENT, SELL_EVENT)
    ]
)
COLUMN_VALUES = {
    "ev": FLAGS,
    "exch_ts": TIMESTAMPS,
    "local_ts": TIMESTAMPS,
    "px": FLOATS,
    "qty": FLOATS,
    "order_id": st.integers(0, 2**64 - 1),
    "ival": st.integers(-(2**63), 2**63 - 1),
    "fval": FLOATS,
}


@st.composite
def event_arrays(draw: st.DrawFn) -> np.ndarray:
    """The generator's events cut to any length (0 and 1 included), with a few cells set to
    NaN/inf/negative/huge values or absurd timestamps, and sometimes the rows shuffled."""
    data = BASE_EVENTS[: draw(st.integers(0, len(BASE_EVENTS)))].copy()
    if len(data) == 0:
        return data
    for _ in range(draw(st.integers(0, 4))):
        column = draw(st.sampled_from(sorted(COLUMN_VALUES)))
        row = draw(st.integers(0, len(data) - 1))
        data[column][row] = draw(COLUMN_VALUES[column])
    if draw(st.integers(0, 4)) == 0:
        data = data[draw(st.permutations(range(len(data))))]
    return data


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


WRONG_DTYPES = st.sampled_from(
    [
        np.dtype(np.float64),
        np.dtype(np.int64),
        np.dtype([("ev", "<u8"), ("exch_ts", "<i8"), ("local_ts", "<i8"), ("px", "<f8")]),
        np.dtype([(name, "<f8") for name in event_dtype.names]),
    ]
)


@st.composite
def part_files(draw: st.DrawFn) -> bytes:
    """Bytes of a would-be part: event archives (often damaged), other arrays, other files."""
    events = draw(event_arrays())
    kind = draw(
        st.sampled_from(
            ["events"] * 4
            + ["wrong_dtype", "two_d", "truncated", "corrupted", "garbage", "zip_garbage"]
            + ["text", "npy", "objects", "other_name", "compressed"]
        )
    )
    if kind == "events":
        return _npz_bytes(data=events)
    if kind == "compressed":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, data=events)
        return buffer.getvalue()
    if kind == "wrong_dtype":
        return _npz_bytes(data=np.zeros(len(events), dtype=draw(WRONG_DTYPES)))
    if kind == "two_d":
        return _npz_bytes(data=np.stack([events, events]))
    if kind in ("truncated", "corrupted"):
        whole = bytearray(_npz_bytes(data=BASE_EVENTS))
        if kind == "truncated":
            return bytes(whole[: draw(st.integers(0, len(whole) - 1))])
        for _ in range(draw(st.integers(1, 8))):
            whole[draw(st.integers(0, len(whole) - 1))] = draw(st.integers(0, 255))
        return bytes(whole)
    if kind == "garbage":
        return draw(st.binary(max_size=300))
    if kind == "zip_garbage":
        return b"PK\x03\x04" + draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=200)).encode()
    if kind == "npy":
        return _npy_bytes(events)
    if kind == "objects":
        return _npz_bytes(data=np.array([{"px": 1.0}, None], dtype=object))
    return _npz_bytes(events=events)  # "other_name": no array called data


@pytest.fixture(scope="module")
def part_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad_parts")


@settings(FAST, max_examples=400)
@given(content=part_files())
def test_part_files_validate_or_fail_naming_the_file(content: bytes, part_dir: Path) -> None:
    path = part_dir / "candidate.npz"
    path.write_bytes(content)
    try:
        info = validate_part(path)
    except PartValidationError as exc:
        message = str(exc)
        assert message.startswith(f"part {path}: "), message
        assert "\n" not in message, message
        event("refused: " + re.sub(r"-?\d+", "N", message.removeprefix(f"part {path}: "))[:34])
    else:
        event("valid")
        assert info.n_events >= 2
        assert MIN_TS_NS <= info.first_exch_ts <= info.last_exch_ts < MAX_TS_NS
        assert MIN_TS_NS <= info.first_local_ts <= info.last_local_ts < MAX_TS_NS
        assert info.last_local_ts > info.first_exch_ts
        assert info.min_px is not None and info.max_px is not None
        assert math.isfinite(info.min_px) and info.min_px <= info.max_px
        assert math.isfinite(info.max_px)
        assert info.sha256 == sha256_file(path) and info.size_bytes == len(content)
    assert path.read_bytes() == content  # validation only reads


# --- end to end: bad parts never touch a stored result -----------------------------------------


def _nan_price(data: np.ndarray) -> np.ndarray:
    data["px"][321] = np.nan
    return data


def _absurd_timestamp(data: np.ndarray) -> np.ndarray:
    data["exch_ts"][-1] = data["local_ts"][-1] = 2**62  # year 2116
    return data


def _shorter_than_one_interval(data: np.ndarray) -> np.ndarray:
    span = data["local_ts"] - data["exch_ts"][0]
    return data[: int(np.argmax(span >= 50_000_000))]  # under half the 100 ms interval


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestConfig, Path, Path]:
    """A results directory holding one good result for part ``p``, and that part's file."""
    root = tmp_path_factory.mktemp("stored")
    good = root / "good" / "p.npz"
    good.parent.mkdir()
    spec = GeneratorSpec(parts=1, events=2000, seed=21)
    events, _, _ = generate_part(
        spec, np.random.default_rng(21), spec.start_ts_ns, round(spec.start_price / spec.tick_size)
    )
    np.savez(good, data=events)
    config = load_config(example_config_path("hftbacktest"))
    out = root / "results"
    outcome = backtest_and_publish(config, {"p": good}, out, workers=1)["p"]
    assert isinstance(outcome, BacktestResult), outcome
    return config, good, out


def _write_bad(kind: str, good: Path, target: Path) -> dict[str, Any]:
    """Write a bad version of ``good`` to ``target``; config overrides it needs."""
    data = np.load(good)["data"].copy()
    if kind == "text":
        target.write_text("timestamp,price\n1,2\n")
    elif kind == "truncated":
        target.write_bytes(good.read_bytes()[:5000])
    elif kind == "one_event":
        np.savez(target, data=data[:1])
    elif kind == "nan_price":
        np.savez(target, data=_nan_price(data))
    elif kind == "absurd_timestamp":
        np.savez(target, data=_absurd_timestamp(data))
    elif kind == "too_short":
        np.savez(target, data=_shorter_than_one_interval(data))
    elif kind == "too_many_records":
        np.savez(target, data=data)
        return {"engine.max_steps": 5}
    elif kind == "outside_roi":
        np.savez(target, data=data)
        return {"engine.depth.roi_lb": 10_000, "engine.depth.roi_ub": float(data["px"].min()) - 1}
    return {}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("text", "not a readable .npz file: not a zip archive"),
        ("truncated", "not a readable .npz file (BadZipFile"),
        ("one_event", "only 1 event"),
        ("nan_price", "row 321 has px nan"),
        ("absurd_timestamp", "has exch_ts 4611686018427387904, outside years 2000-2100"),
        ("too_short", "shorter than one record interval"),
        ("outside_roi", "are not inside config"),
        ("too_many_records", "the recorder (engine.max_steps = 5) holds 4"),
    ],
)
def test_a_bad_part_fails_in_one_line_and_the_stored_result_stays(
    kind: str,
    expected: str,
    stored: tuple[BacktestConfig, Path, Path],
    tmp_path: Path,
) -> None:
    config, good, out = stored
    before = _snapshot(out)
    bad = tmp_path / "p.npz"  # same partition key as the stored result
    overrides = _write_bad(kind, good, bad)
    if overrides:
        config = apply_overrides(config, overrides)
    outcome = backtest_and_publish(config, {"p": bad}, out, workers=1)["p"]
    assert isinstance(outcome, Exception), outcome
    message = str(outcome)
    assert "\n" not in message and message.startswith(f"part {bad}: "), message
    assert expected in message, message
    assert _snapshot(out) == before
