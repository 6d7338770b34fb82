"""The first step of `trading-runtime materialize`: raw files that are new or changed become
parts, each raw group in its own Dagster run of ``raw_market_data`` (the run the UI shows), before
the parts are planned. Prints one line per conversion."""

from __future__ import annotations

import time
from collections import Counter
from functools import partial
from typing import Any

import click

from trading_runtime.cli.common import echo_error
from trading_runtime.settings import RuntimeSettings

__all__ = ["convert_raw_files"]


def _reasons(to_convert: dict[str, str]) -> str:
    counts = Counter(to_convert.values())
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common())


def convert_raw_files(settings: RuntimeSettings, instance: Any, defs: Any) -> list[str]:
    """Register the raw groups as partitions, convert those that need it; the failed keys."""
    from dagster import AssetKey, AssetPartitionStatus

    from trading_runtime.cli.signals import run_interruptibly
    from trading_runtime.data.ingest.window_text import parse_window
    from trading_runtime.data.parts_store import scan_parts
    from trading_runtime.data.raw_store import lineage_by_part
    from trading_runtime.defs.partitions import RAW_PARTITIONS, raw_partitions
    from trading_runtime.defs.sensors import RAW_HASHES_FILE
    from trading_runtime.freshness.part_hashes import PartHashCache
    from trading_runtime.freshness.raw_plan import plan_conversions
    from trading_runtime.runs.instance import (
        dagster_home,
        register_partitions,
        remove_vanished_parts,
    )
    from trading_runtime.runs.launch import failure_messages, run_partition
    from trading_runtime.storage import as_upath

    try:
        listing = defs.resources["raw_dir"].listing()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not listing.found:
        return []  # no raw directory: parts only, as before
    for name, problem in listing.refused.items():
        echo_error(f"REFUSED raw file {name}: {problem}")
    keys = list(listing.groups)
    remove_vanished_parts(instance, keys, RAW_PARTITIONS)
    register_partitions(instance, keys, RAW_PARTITIONS)
    statuses = instance.get_status_by_partition(AssetKey(RAW_PARTITIONS), keys, raw_partitions)
    hashes = PartHashCache(dagster_home() / RAW_HASHES_FILE)
    plan = plan_conversions(
        listing.groups,
        lineage_by_part(settings.parts_dir),
        lambda path: hashes.sha256(as_upath(path)),
        window_ns=parse_window(settings.raw_window),
        present_parts=set(scan_parts(settings.parts_dir).keys),
        failed={k for k, s in (statuses or {}).items() if s == AssetPartitionStatus.FAILED},
    )
    hashes.save()
    todo = plan.to_convert
    click.echo(
        f"{len(keys)} raw group(s) in {settings.raw_dir}: {len(plan.up_to_date)} up to date,"
        f" {len(todo)} to convert" + (f" ({_reasons(todo)})" if todo else "")
    )
    job = defs.resolve_job_def("convert_raw")
    failed = []
    for index, (key, reason) in enumerate(todo.items(), start=1):
        started = time.perf_counter()
        # In a thread of its own, as materialize's runs: a signal reaches the command.
        result = run_interruptibly(partial(run_partition, job, instance, key))
        elapsed = time.perf_counter() - started
        position = f"[{index}/{len(todo)}]"
        if not result.success:
            failed.append(key)
            for message in failure_messages(result):
                echo_error(f"{position} FAILED raw {key}: {message}")
            continue
        metadata = result.asset_materializations_for_node(RAW_PARTITIONS)[0].metadata
        made = list(metadata["parts"].value)  # type: ignore[arg-type]
        shown = ", ".join(made[:3]) + (f" and {len(made) - 3} more" if len(made) > 3 else "")
        click.echo(
            f"{position} ok     raw {key} -> {len(made)} part(s): {shown}"
            f" ({elapsed:.1f} s; {reason})"
        )
    return failed
