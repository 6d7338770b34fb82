"""A window as written in a setting or an option (``30m``, ``1h``, ``1d``, ``none``), without
importing hftbacktest (settings read it)."""

from __future__ import annotations

__all__ = ["parse_window"]

_WINDOW_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_window(text: str | None) -> int | None:
    """``30m``, ``1h``, ``1d`` in nanoseconds; None for None or ``none`` (no window: one part per
    conversion). ``ValueError`` for anything else."""
    if text is None or text == "none":
        return None
    number, unit = text[:-1], text[-1:]
    if unit not in _WINDOW_UNITS or not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r}: expected minutes, hours or days, e.g. 30m, 1h, 1d")
    return int(number) * _WINDOW_UNITS[unit] * 1_000_000_000
