"""cProfile of an extra run and where its time goes (the report's *Profiles* section)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Where a run's time goes: (label, file name contains, function name contains).
HOTSPOTS = (
    ("run creation: create_run_for_job (run + snapshots)", "run_domain.py", "create_run_for_job"),
    ("event-log writes: SqliteEventLogStorage.store_event", "sqlite_event_log.py", "store_event"),
    ("  of which SQLite connections opened (_connect)", "sqlite_event_log.py", "_connect"),
    ("asset `parts` (body)", "defs/assets.py", "parts"),
    ("  BacktestRunner.validate_parts (on the worker pool)", "defs/resources.py",
     "validate_parts"),
    ("asset `backtest_results` (body)", "defs/assets.py", "backtest_results"),
    ("  backtest_tasks (submit + wait for the worker pool)", "trading_runtime/backtest/fan_out.py",
     "backtest_tasks"),
    ("  context.add_asset_metadata", "context/system.py", "add_asset_metadata"),
    ("IO manager: BacktestResultsIOManager.handle_output", "defs/io_managers.py", "handle_output"),
    ("  publish_directory (rename into place)", "trading_runtime/storage.py", "publish_directory"),
    ("check `part_file_is_valid` (body)", "defs/checks.py", "part_file_is_valid"),
    ("check `result_is_deterministic` (body)", "defs/checks.py", "result_is_deterministic"),
    ("  checks: recent_metadata_by_partition (fetch_materializations)", "defs/checks.py",
     "recent_metadata_by_partition"),
    ("validate_part (in this process)", "data/validate.py", "validate_part"),
    ("sha256_file (in this process)", "data/validate.py", "sha256_file"),
    ("subprocesses started (fork_exec)", "~", "fork_exec"),
    ("time.sleep", "~", "time.sleep"),
    ("waiting on locks (futures, pebble threads)", "~", "acquire' of '_thread.lock"),
)  # fmt: skip


def hotspots(stats: Any) -> list[tuple[str, int, float, float]]:
    """(label, calls, cumulative s, own s) for the HOTSPOTS found in a pstats.Stats."""
    rows = []
    for label, file_part, func_part in HOTSPOTS:
        calls, cumulative, own = 0, 0.0, 0.0
        for (filename, _, funcname), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
            if file_part in filename and func_part in funcname:
                calls, cumulative, own = calls + ncalls, cumulative + cumtime, own + tottime
        if calls:
            rows.append((label, calls, cumulative, own))
    return rows


def profile_call(function: Callable[[], Any], top: int = 25) -> tuple[Any, dict[str, Any]]:
    """Run ``function`` under cProfile: its result, the hotspots and the top functions."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(function)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    text.write("\n--- by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    return result, {"hotspots": hotspots(stats), "text": text.getvalue()}
