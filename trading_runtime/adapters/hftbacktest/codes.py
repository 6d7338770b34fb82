"""hftbacktest 2.4.4's error codes: the one table the adapters share.

``elapse()`` and the ``wait_*()`` calls return 0 or 1 (the end of the data) when all is well,
2 and 3 for what a wait stopped on, and one of these codes for an error (py-hftbacktest's
``handle_result`` in its ``backtest.rs``); an error does not advance the backtest.
"""

from __future__ import annotations

__all__ = ["HFTBACKTEST_ERRORS", "hftbacktest_error_name"]

HFTBACKTEST_ERRORS = {
    10: "OrderIdExist",
    11: "OrderRequestInProcess",
    12: "OrderNotFound",
    13: "InvalidOrderRequest",
    14: "InvalidOrderStatus",
    15: "EndOfData",
    100: "DataError",
}


def hftbacktest_error_name(code: int) -> str:
    """The error's name, or "an unknown error" for a code not in the table."""
    return HFTBACKTEST_ERRORS.get(code, "an unknown error")
