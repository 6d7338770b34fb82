"""The raw formats the runtime converts, by the folder name raw files sit in (``<raw>/<format>/``).

Apart from ``convert`` (which loads hftbacktest's converters, and numba with them) so that
listing raw files in the code location costs no engine import.
"""

from __future__ import annotations

__all__ = ["FORMATS"]

FORMATS: tuple[str, ...] = ("binancefutures", "tardis", "bybit")
