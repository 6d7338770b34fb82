"""One rule for part names, applied wherever a key becomes a path, object key or argument."""

from pathlib import Path
from typing import Any

import pytest
from upath import UPath

from trading_runtime.argo.batch import ArgoError, part_keys
from trading_runtime.data.parts_store import list_part_keys, part_location, scan_parts
from trading_runtime.defs.io_managers import BacktestResultsIOManager
from trading_runtime.layout import (
    PART_KEY_MAX_LENGTH,
    PartNameError,
    check_part_key,
    part_key,
    part_key_problem,
)

VALID = ["p", "part-00000", "p.2024-01-01", "_x", "A_b-9.c", "a" * PART_KEY_MAX_LENGTH]
INVALID = {
    "": "it is empty",
    ".": "it starts with '.'",
    "..": "it starts with '.'",
    ".hidden": "it starts with '.'",
    "-rf": "it starts with '-'",
    "a..b": "it contains '..'",
    "a...b": "it contains '..'",  # Dagster's partition-range separator
    "a/b": "it contains '/'",
    "a\\b": "it contains '\\\\'",
    "a b": "it contains ' '",
    "a\nb": "it contains '\\n'",
    "é": "it contains 'é'",
    "a=b": "it contains '='",
    "a" * (PART_KEY_MAX_LENGTH + 1): f"more than {PART_KEY_MAX_LENGTH}",
}


@pytest.mark.parametrize("key", VALID)
def test_valid_part_names(key: str) -> None:
    assert part_key_problem(key) is None
    assert check_part_key(key) == key
    assert part_key(f"s3://bucket/parts/{key}.npz") == key


@pytest.mark.parametrize(("key", "problem"), INVALID.items())
def test_refused_part_names_say_which_rule_they_break(key: str, problem: str) -> None:
    found = part_key_problem(key)
    assert found is not None and problem in found
    with pytest.raises(PartNameError) as refused:
        check_part_key(key)
    assert isinstance(refused.value, ValueError) and "letters, digits" in str(refused.value)


def test_part_key_never_returns_an_unsafe_key() -> None:
    for name in ("..npz", ".npz", "data/parts/.npz", "s3://b/p/..npz"):
        with pytest.raises(PartNameError, match="refused"):
            part_key(name)


def test_no_path_is_built_from_an_unchecked_key(tmp_path: Path) -> None:
    for key in ("", ".", "..", "../x"):
        with pytest.raises(PartNameError):
            part_location(tmp_path, key)
    manager = BacktestResultsIOManager(base_path=UPath(tmp_path))
    context: Any = None  # not consulted before the key is checked
    for key in ("|base", ".|base", "..|base", "a/../..|base"):
        with pytest.raises(PartNameError):
            manager.get_path_for_partition(context, UPath(tmp_path / "backtest_results"), key)
    # A variant is a directory name too: only "base" or "<name>-<12 hex digits>".
    for key in ("p1|..", "p1|../x-0123456789ab", "p1|x-0123", "p1"):
        with pytest.raises(ValueError):
            manager.result_path(key)
    path = manager.get_path_for_partition(context, UPath(tmp_path / "backtest_results"), "p1|base")
    assert path == UPath(tmp_path / "backtest_results" / "p1")
    swept = manager.result_path("p1|order_qty=0.1-0123456789ab")
    assert swept == UPath(tmp_path / "0123456789ab" / "backtest_results" / "p1")


def test_scan_lists_valid_parts_and_refused_files(tmp_path: Path) -> None:
    for name in ["b.npz", "a.npz", "..npz", ".npz", ".hidden.npz", "x y.npz", "notes.txt", "c.tmp"]:
        (tmp_path / name).write_bytes(b"")
    listing = scan_parts(tmp_path)
    assert listing.found and listing.keys == ["a", "b"] == list_part_keys(tmp_path)
    assert listing.refused == {
        ".hidden.npz": "it starts with '.'",
        "..npz": "it starts with '.'",
        ".npz": "it is empty",
        "x y.npz": "it contains ' '",
    }
    missing = scan_parts(tmp_path / "nope")
    assert not missing.found and missing.keys == [] and missing.refused == {}


def test_argo_part_keys_follow_the_same_rule(tmp_path: Path) -> None:
    assert part_keys(["p1.npz", "p0"]) == ("p0", "p1")
    with pytest.raises(ArgoError, match=r"'' \(it is empty\), '\.' \(it starts with '\.'\)"):
        part_keys([".npz", "..npz"])
    with pytest.raises(ArgoError, match=r"'a=b' \(it contains '='\)"):
        part_keys(["a=b"])
    (tmp_path / "p1.npz").write_bytes(b"")
    (tmp_path / "..npz").write_bytes(b"")
    with pytest.raises(ArgoError, match=r"refused names \(\.\.npz: it starts with '\.'\)"):
        part_keys([], tmp_path)
