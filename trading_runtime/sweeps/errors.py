"""The error of a sweep that cannot run, and the limits it is checked against."""

from __future__ import annotations

__all__ = ["MAX_PARTITIONS", "MAX_SWEEP_POINTS", "SweepError"]

# Points one sweep file may expand to: a grid over this is refused before it is expanded.
MAX_SWEEP_POINTS = 10_000
# Partitions (variants x parts) one sweep may ask of Dagster: its documented comfort limit for the
# partitions of one asset.
MAX_PARTITIONS = 100_000


class SweepError(ValueError):
    """A sweep that cannot run: one line naming the file, the point (index and overrides) and the
    key, and what to change. Raised before anything runs or anything stored is touched."""
