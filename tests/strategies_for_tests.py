"""Strategies that misbehave on purpose, imported by engine workers during tests."""

from numba import njit


def stuck_forever(hbt, recorder):
    # Never yields back to the engine: only a killed worker ends this.
    while True:
        pass


@njit
def records_every_step(hbt, recorder, interval_ns=1_000_000):
    # Never checks end_ts, so a small recorder fills up.
    while hbt.elapse(interval_ns) == 0:
        recorder.record(hbt)
    return True


def raises_value_error(hbt, recorder):
    raise ValueError("strategy blew up on purpose")


def stuck_on_late_parts(hbt, recorder, end_ts, stuck_after_ts=0):
    # Returns at once on parts that end before stuck_after_ts; never returns on later ones.
    while end_ts > stuck_after_ts:
        pass
    return True


@njit
def stops_on_error_code(hbt, recorder, interval_ns=1_000_000):
    # Reports an hftbacktest error code (InvalidOrderStatus) as the reason its loop ended.
    hbt.elapse(interval_ns)
    recorder.record(hbt)
    return 14
