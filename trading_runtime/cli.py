"""`trading-runtime`: backtests without Dagster, data generation, and the main local job."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from trading_runtime.argo_cli import argo
from trading_runtime.config import ConfigError, example_config_path, load_config


def _echo_err(message: str) -> None:
    click.secho(message, fg="red", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="trading-runtime")
def main() -> None:
    """Deterministic trading backtests: parts in, per-part results and aggregate metrics out."""


# --------------------------------------------------------------------------- data


@main.group()
def data() -> None:
    """Generate and validate part files."""


@data.command("generate")
@click.option(
    "--parts", "n_parts", type=click.IntRange(min=1), required=True, help="Number of parts."
)
@click.option("--events", type=click.IntRange(min=1), required=True, help="Events per part.")
@click.option("--seed", type=int, required=True, help="Random seed: same arguments, same bytes.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
def data_generate(n_parts: int, events: int, seed: int, out_dir: Path) -> None:
    """Write seeded synthetic parts in hftbacktest's event format."""
    from trading_runtime.data.generate import GeneratorSpec, generate_parts

    try:
        written = generate_parts(GeneratorSpec(parts=n_parts, events=events, seed=seed), out_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for path in written:
        click.echo(str(path))


@data.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def data_validate(paths: tuple[Path, ...]) -> None:
    """Validate part files; exit 1 if any is invalid."""
    from trading_runtime.data.validate import PartValidationError, validate_part

    bad = 0
    for path in paths:
        try:
            info = validate_part(path)
        except PartValidationError as exc:
            bad += 1
            _echo_err(f"INVALID {exc}")
            continue
        click.echo(f"ok {path}: {info.n_events} events, sha256 {info.sha256[:12]}")
    sys.exit(1 if bad else 0)


# --------------------------------------------------------------------------- backtest


def _format_metrics(metrics: dict[str, Any]) -> str:
    keys = ("pnl", "sharpe", "max_drawdown", "trades", "volume")
    parts = []
    for key in keys:
        value = metrics.get(key)
        parts.append(f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def _parse_overrides(sets: tuple[str, ...], overrides_json: str | None) -> dict[str, Any]:
    """``--overrides '{"k": v}'`` and ``--set k=v`` (value read as JSON, else as a string)."""
    import json

    overrides: dict[str, Any] = {}
    if overrides_json:
        try:
            loaded = json.loads(overrides_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(
                f"not valid JSON ({exc.msg})", param_hint="--overrides"
            ) from None
        if not isinstance(loaded, dict):
            raise click.BadParameter(
                'expected a JSON object of dotted keys, e.g. {"strategy.skew": 0.5}',
                param_hint="--overrides",
            )
        overrides.update(loaded)
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--set")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    return overrides


@main.command()
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field by dotted key, e.g. --set strategy.quote_offset_ticks=2"
    " (repeatable; VALUE is read as JSON when it parses).",
)
@click.option(
    "--overrides",
    "overrides_json",
    metavar="JSON",
    help="Overrides as one JSON object of dotted keys (what Argo sweeps pass).",
)
@click.option(
    "--part",
    "parts",
    multiple=True,
    help="A part file or URL (repeatable). Default: every part in TRADING_RUNTIME_PARTS_DIR.",
)
@click.option(
    "--out",
    default="results/cli",
    show_default=True,
    help="Directory or URL (s3://…); results go to OUT/<part>/. Dagster's layout is"
    " <results>/backtest_results.",
)
@click.option("--timeout", "timeout_s", type=float, default=None, help="Seconds per part.")
@click.option("--workers", type=click.IntRange(min=1), default=None)
def backtest(
    config_path: Path,
    sets: tuple[str, ...],
    overrides_json: str | None,
    parts: tuple[str, ...],
    out: str,
    timeout_s: float | None,
    workers: int | None,
) -> None:
    """Run a backtest config on parts directly (no Dagster): the per-partition entrypoint that
    Dagster runs for each partition and Argo runs in each pod."""
    import shutil
    import tempfile

    from trading_runtime.backtest import BacktestResult, BacktestTask, run_backtests
    from trading_runtime.config import apply_overrides
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import (
        as_upath,
        is_url,
        list_part_keys,
        localize,
        part_location,
        publish_directory,
    )

    settings = load_settings()
    try:
        config = load_config(config_path)
        overrides = _parse_overrides(sets, overrides_json)
        if overrides:
            config = apply_overrides(config, overrides, str(config_path))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    locations = [as_upath(p) for p in parts] or [
        part_location(settings.parts_dir, key) for key in list_part_keys(settings.parts_dir)
    ]
    if not locations:
        raise click.ClickException(f"no part files given and none in {settings.parts_dir}")
    # Engine output is built in local scratch, then published: beside OUT when it is a directory
    # (a rename), in the system temp directory when OUT is an object store.
    scratch_base = None
    if not is_url(out):
        Path(out).mkdir(parents=True, exist_ok=True)
        scratch_base = out
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=scratch_base))
    try:
        tasks = []
        for location in locations:
            key = location.name.removesuffix(".npz")
            try:
                local = localize(location, staging / ".parts")
            except FileNotFoundError as exc:
                raise click.ClickException(str(exc)) from None
            tasks.append(BacktestTask(key, local, staging / key))
        click.echo(f"backtesting {len(tasks)} part(s) with {config.id} ({config.adapter})")
        try:
            outcomes = run_backtests(
                config,
                tasks,
                timeout_s=timeout_s or settings.timeout_s,
                workers=workers or settings.workers,
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        failed = 0
        for key in sorted(outcomes):
            outcome = outcomes[key]
            if isinstance(outcome, BacktestResult):
                destination = as_upath(out) / key
                publish_directory(outcome.local_directory(), destination)
                click.echo(f"ok     {key}: {_format_metrics(outcome.metrics)} -> {destination}")
            else:
                failed += 1
                _echo_err(f"FAILED {key}: {outcome}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sys.exit(1 if failed else 0)


@main.command()
@click.option(
    "--results",
    default=None,
    help="Results base (directory or URL) holding backtest_results/<part>/. Default:"
    " TRADING_RUNTIME_RESULTS.",
)
def aggregate(results: str | None) -> None:
    """Aggregate stored results into <results>/aggregate_metrics.parquet (the same table as the
    Dagster asset aggregate_metrics), e.g. the last step of an Argo batch."""
    from trading_runtime.backtest import aggregate_results, mixed_provenance
    from trading_runtime.metrics import markdown_table
    from trading_runtime.settings import load_settings
    from trading_runtime.storage import (
        AGGREGATE_FILE,
        RESULTS_DIR,
        as_upath,
        load_results,
        write_parquet,
    )

    base = results or load_settings().results
    stored = load_results(base)
    if not stored:
        raise click.ClickException(f"no stored results under {base}/{RESULTS_DIR}/")
    table = aggregate_results(stored)
    destination = as_upath(base) / AGGREGATE_FILE
    write_parquet(table, destination)
    click.echo(markdown_table(table))
    mixed = mixed_provenance(table)
    if mixed:
        _echo_err(f"warning: parts come from different {', '.join(mixed)}")
    click.echo(f"{len(stored)} part(s) -> {destination}")


# --------------------------------------------------------------------------- Dagster main job


def _dagster_home() -> Path:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path(".dagster").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


# The CLI prints its own progress; Dagster's per-event console log would drown it.
_QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _failure_messages(result: Any) -> list[str]:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.user_failure_data
            description = error.description if error is not None else None
            if not description and event.step_failure_data.error is not None:
                description = event.step_failure_data.error.message.strip()
            messages.append(f"{event.step_key}: {description}")
    return messages


@main.command()
@click.option(
    "--single-run",
    is_flag=True,
    help="Backtest all partitions in one run (fastest for many parts; one failure fails"
    " the run). Default: one run per partition, so failures stay isolated.",
)
def materialize(single_run: bool) -> None:
    """The main local job: register parts, backtest every partition, aggregate."""
    from dagster import DagsterInstance
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from trading_runtime.defs import build_definitions
    from trading_runtime.defs.partitions import PARTS_PARTITIONS
    from trading_runtime.defs.resources import PartsDirectory
    from trading_runtime.settings import load_settings

    started = time.perf_counter()
    settings = load_settings()
    home = _dagster_home()
    try:
        load_config(settings.config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    instance = DagsterInstance.get()
    defs = build_definitions(settings)
    keys = PartsDirectory(path=settings.parts_dir).partition_keys()
    if not keys:
        raise click.ClickException(f"no part files in {settings.parts_dir}")
    known = set(instance.get_dynamic_partitions(PARTS_PARTITIONS))
    new_keys = [k for k in keys if k not in known]
    if new_keys:
        instance.add_dynamic_partitions(PARTS_PARTITIONS, new_keys)
    click.echo(
        f"{len(keys)} part(s) in {settings.parts_dir} ({len(new_keys)} newly registered);"
        f" config {settings.config}; Dagster instance {home}"
    )
    job = defs.resolve_job_def("backtest_parts")
    failed: list[str] = []
    if single_run:
        # A run covers a range of partitions in the order they were registered: all of them.
        registered = instance.get_dynamic_partitions(PARTS_PARTITIONS)
        keys = list(registered)
        click.echo(f"backtesting all {len(keys)} partitions ({keys[0]}..{keys[-1]}) in one run")
        result = job.execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: keys[0],
                ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            },
            raise_on_error=False,
            run_config=_QUIET_RUN_CONFIG,
        )
        if not result.success:
            failed = list(keys)
            for message in _failure_messages(result):
                _echo_err(f"FAILED {message}")
    else:
        for index, key in enumerate(keys, start=1):
            run_started = time.perf_counter()
            result = job.execute_in_process(
                instance=instance,
                partition_key=key,
                raise_on_error=False,
                run_config=_QUIET_RUN_CONFIG,
            )
            elapsed = time.perf_counter() - run_started
            if result.success:
                click.echo(f"[{index}/{len(keys)}] ok     {key} ({elapsed:.1f} s)")
            else:
                failed.append(key)
                for message in _failure_messages(result):
                    _echo_err(f"[{index}/{len(keys)}] FAILED {key} {message}")
    click.echo("aggregating")
    aggregate = defs.resolve_job_def("aggregate").execute_in_process(
        instance=instance, raise_on_error=False, run_config=_QUIET_RUN_CONFIG
    )
    if not aggregate.success:
        for message in _failure_messages(aggregate):
            _echo_err(f"FAILED {message}")
        sys.exit(1)
    table_md = aggregate.asset_materializations_for_node("aggregate_metrics")[0].metadata["table"]
    click.echo(str(table_md.value))
    results = (
        Path(settings.results).resolve() if "://" not in settings.results else settings.results
    )
    click.echo(
        f"results: {results}/backtest_results/<part>/ and {results}/aggregate_metrics.parquet"
        f" ({time.perf_counter() - started:.1f} s). Browse them with `make dev`."
    )
    if failed:
        _echo_err(f"{len(failed)} partition(s) failed: {', '.join(failed)}")
        sys.exit(1)


@main.command("example-config")
@click.option(
    "--adapter",
    type=click.Choice(["hftbacktest", "trading-platform"]),
    default="hftbacktest",
    show_default=True,
)
def example_config(adapter: str) -> None:
    """Print the path of a packaged example config."""
    click.echo(str(example_config_path(adapter)))


main.add_command(argo)
