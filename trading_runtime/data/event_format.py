"""hftbacktest's event row (``hftbacktest.types.event_dtype``), the dtype of a part's array.

Spelled out here because importing anything from hftbacktest loads numba and compiles its
bindings (about half a second), and the processes that only read a part's header or first rows
(the code location ordering warm-up parts, the CLI) never run the engine.
``tests/test_import_cost.py`` holds it equal to hftbacktest's own.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EVENT_DTYPE"]

EVENT_DTYPE = np.dtype(
    [
        ("ev", "u8"),
        ("exch_ts", "i8"),
        ("local_ts", "i8"),
        ("px", "f8"),
        ("qty", "f8"),
        ("order_id", "u8"),
        ("ival", "i8"),
        ("fval", "f8"),
    ],
    align=True,
)
