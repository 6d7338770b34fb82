"""The exact checks of a backtest's inputs (warm-up parts, then the scored part) once the worker
has validated them: in order, not overlapping, within ``max_gap_ns``, covering ``duration_ns``,
and fitting the config (ROI, recorder capacity) over the whole span."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from trading_runtime.config import BacktestConfig, WarmupSection
from trading_runtime.data.order import WarmupError, seconds
from trading_runtime.data.validate import PartInfo, check_part_fits_config, check_roi_covers

__all__ = ["check_inputs", "check_warmup_fits_config"]


def check_inputs(section: WarmupSection, inputs: Sequence[PartInfo]) -> None:
    """The exact checks on validated inputs (warm-up parts, then the scored part): each starts
    after the previous one ends, on both clocks; no gap exceeds ``max_gap_ns``; the warm-up
    covers ``duration_ns``."""
    scored = inputs[-1]
    for before, after in itertools.pairwise(inputs):
        for column in ("exch_ts", "local_ts"):
            last = getattr(before, f"last_{column}")
            first = getattr(after, f"first_{column}")
            if last > first:
                raise WarmupError(
                    f"part {scored.name}: warm-up input {before.name} overlaps {after.name}: its"
                    f" last {column} {last} is after {after.name}'s first {first}; parts must not"
                    " overlap in time"
                )
        gap = after.first_exch_ts - before.last_exch_ts
        if section.max_gap_ns is not None and gap > section.max_gap_ns:
            raise WarmupError(
                f"part {scored.name}: {seconds(gap)} of no data between {before.name} and"
                f" {after.name}, more than warmup.max_gap_ns = {section.max_gap_ns}"
                f" ({seconds(section.max_gap_ns)}): a part is missing"
            )
    if section.duration_ns is not None:
        covered = scored.first_exch_ts - inputs[0].first_exch_ts
        if covered < section.duration_ns:
            raise WarmupError(
                f"part {scored.name}: the warm-up covers {seconds(covered)}, less than"
                f" warmup.duration_ns = {section.duration_ns} ({seconds(section.duration_ns)})"
            )


def check_warmup_fits_config(
    config: BacktestConfig, warmup: Sequence[PartInfo], scored: PartInfo
) -> None:
    """``check_inputs``, and ``check_part_fits_config`` over all inputs: the ROI covers every
    input's prices, and the recorder (``engine.max_steps``) holds the whole span, warm-up
    included (the strategy records from the first warm-up event)."""
    if config.warmup is None:
        raise WarmupError(f"part {scored.name}: warm-up parts given but the config has no warmup")
    check_inputs(config.warmup, [*warmup, scored])
    for info in warmup:
        check_roi_covers(config, info)
    whole = dataclasses.replace(
        scored,
        path=f"{scored.path} with {len(warmup)} warm-up part(s) before it",
        first_exch_ts=warmup[0].first_exch_ts if warmup else scored.first_exch_ts,
    )
    check_part_fits_config(config, whole)
