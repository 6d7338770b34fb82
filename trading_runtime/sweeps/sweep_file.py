"""Sweep files, in both shapes users write, read by one loader.

- **A grid**: a JSON object of dotted keys, each with a list of values or a
  ``{"start", "stop", "step"}`` range (stop included), expanded as a cartesian product
  (``grid``): ``{"strategy.quote_offset_ticks": {"start": 0, "stop": 2, "step": 1},
  "strategy.order_qty": [0.1, 0.2]}`` is 6 points.
- **A list**: a JSON list of override objects, one point each (what ``argo render --sweep``
  has always taken): ``[{"strategy.quote_offset_ticks": 1}, {"strategy.quote_offset_ticks": 2}]``.

A grid's points are called ``point``, a list's ``entry`` in messages (``sweep FILE point 3
{...}: ...``). Loading checks the file's shape only; ``planning.plan_variants`` validates every
point against the config and the strategy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trading_runtime.config.loading import JsonFileError, read_json_file
from trading_runtime.sweeps.errors import MAX_SWEEP_POINTS, SweepError
from trading_runtime.sweeps.grid import expand_grid

__all__ = ["LIST_EXAMPLE", "SweepFile", "load_sweep_file", "parse_sweep"]

LIST_EXAMPLE = '[{"strategy.quote_offset_ticks": 1}, {"strategy.quote_offset_ticks": 2}]'


@dataclass(frozen=True)
class SweepFile:
    """A sweep's points (override objects with dotted keys), in order, and where they came
    from."""

    source: str
    shape: Literal["grid", "list"]
    points: tuple[Mapping[str, Any], ...]

    @property
    def unit(self) -> str:
        """What one point is called in messages: ``point`` of a grid, ``entry`` of a list."""
        return "point" if self.shape == "grid" else "entry"


def _list_points(source: str, raw: Sequence[Any]) -> tuple[Mapping[str, Any], ...]:
    if not raw:
        raise SweepError(
            f"sweep {source}: expected a non-empty JSON list of objects, e.g. {LIST_EXAMPLE}"
            " (or a grid object)"
        )
    if len(raw) > MAX_SWEEP_POINTS:
        raise SweepError(
            f"sweep {source}: {len(raw):,} entries, over the limit of {MAX_SWEEP_POINTS:,};"
            " split it into several sweep files"
        )
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise SweepError(
                f"sweep {source}: entry {index} is {type(entry).__name__}, expected an object of"
                f" dotted keys, e.g. {LIST_EXAMPLE}"
            )
    return tuple(raw)


def parse_sweep(raw: Any, source: str = "<sweep>") -> SweepFile:
    """A sweep from parsed JSON: a grid object or a list of override objects."""
    if isinstance(raw, dict):
        return SweepFile(source, "grid", tuple(expand_grid(source, raw)))
    if isinstance(raw, list):
        return SweepFile(source, "list", _list_points(source, raw))
    raise SweepError(
        f"sweep {source}: expected a non-empty JSON list of objects, e.g. {LIST_EXAMPLE}, or a"
        f" grid object of dotted keys, got {type(raw).__name__}"
    )


def load_sweep_file(path: str | Path) -> SweepFile:
    """A sweep file (either shape, see the module doc); problems are one-line ``SweepError``s."""
    path = Path(path)
    try:
        raw = read_json_file(path, "sweep")
    except JsonFileError as exc:
        raise SweepError(str(exc)) from None
    return parse_sweep(raw, str(path))
