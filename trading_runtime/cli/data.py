"""`trading-runtime data`: generate, validate and ingest part files, and derive their order
latency from the feed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from trading_runtime.cli.common import echo_error

__all__ = ["data"]


@click.group()
def data() -> None:
    """Generate, validate and ingest part files."""


@data.command("generate")
@click.option(
    "--parts", "n_parts", type=click.IntRange(min=1), required=True, help="Number of parts."
)
@click.option("--events", type=click.IntRange(min=1), required=True, help="Events per part.")
@click.option("--seed", type=int, required=True, help="Random seed: same arguments, same bytes.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option(
    "--prefix",
    default="part-",
    show_default=True,
    help="Name parts <prefix>00000.npz ..., e.g. to put them beside other parts.",
)
@click.option("--force", is_flag=True, help="Overwrite files of the same names in --out.")
def data_generate(
    n_parts: int, events: int, seed: int, out_dir: Path, prefix: str, force: bool
) -> None:
    """Write seeded synthetic parts in hftbacktest's event format. Files already in --out are
    never replaced without --force."""
    from trading_runtime.data.generate import ExistingPartsError, GeneratorSpec, generate_parts

    spec = GeneratorSpec(parts=n_parts, events=events, seed=seed)
    try:
        written = generate_parts(spec, out_dir, prefix=prefix, force=force)
    except ExistingPartsError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for path in written:
        click.echo(str(path))


@data.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def data_validate(paths: tuple[Path, ...]) -> None:
    """Validate part files (content and name); exit 1 if any is invalid."""
    from trading_runtime.data.part_info import PartValidationError
    from trading_runtime.data.validate import validate_part
    from trading_runtime.layout import PART_KEY_RULE, PartNameError, part_key

    bad = 0
    for path in paths:
        try:
            part_key(path)  # the name first: a file with a refused name is no part
        except PartNameError as exc:
            bad += 1
            echo_error(f"REFUSED {path}: {exc.problem} (a part name has {PART_KEY_RULE})")
            continue
        try:
            info = validate_part(path)
        except PartValidationError as exc:
            bad += 1
            echo_error(f"INVALID {exc}")
            continue
        click.echo(f"ok {path}: {info.n_events} events, sha256 {info.sha256[:12]}")
    sys.exit(1 if bad else 0)


def _window_ns(text: str | None) -> int | None:
    """``30m``, ``1h``, ``1d`` in nanoseconds; None when not given."""
    from trading_runtime.data.ingest.window_text import parse_window

    try:
        return parse_window(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@data.command("ingest")
@click.argument("raw", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format",
    "raw_format",
    type=click.Choice(["binancefutures", "tardis", "bybit"]),
    required=True,
    help="The raw files' format (one hftbacktest converter each).",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option("--window", default=None, help="Cut parts on this window (30m, 1h, 1d; UTC).")
@click.option(
    "--snapshots",
    is_flag=True,
    help="Start each part after a day's first from the previous part's book (needs --tick-size"
    " and --lot-size).",
)
@click.option("--tick-size", type=float, default=None)
@click.option("--lot-size", type=float, default=None)
@click.option(
    "--latency/--no-latency",
    default=None,
    help="Also write each part's order latency from its feed into <out>/latency/ (default:"
    " TRADING_RUNTIME_RAW_LATENCY, off).",
)
def data_ingest(
    raw: tuple[Path, ...],
    raw_format: str,
    out_dir: Path,
    window: str | None,
    snapshots: bool,
    tick_size: float | None,
    lot_size: float | None,
    latency: bool | None,
) -> None:
    """Convert raw exchange files into parts with hftbacktest's converters; exit 1 if any raw
    file failed (the others still convert)."""
    from trading_runtime.data.ingest.run import IngestSpec, ingest_raw
    from trading_runtime.settings import load_settings

    settings = load_settings()
    if latency is None:
        latency = settings.raw_latency == "on"
    latency_file = _latency_name(Path(settings.config)) if latency else None
    try:
        spec = IngestSpec(
            raw_format, _window_ns(window), snapshots, tick_size, lot_size, latency_file
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ingest_raw(raw, spec, out_dir)
    for part in report.parts:
        snapshot = part.lineage["snapshot"]
        carried = f", book from {snapshot['from_part']}" if snapshot else ""
        click.echo(f"ok {part.path}: {part.lineage['n_events']} events{carried}")
    for error in report.errors:
        echo_error(f"FAILED {error}")
    sys.exit(1 if report.errors else 0)


def _latency_name(config_path: Path) -> str:
    """The per-part latency file name the config reads (``{part}.npz`` when it reads none)."""
    from trading_runtime.config import ConfigError, load_config
    from trading_runtime.data.latency import per_part_latency_name

    try:
        return per_part_latency_name(load_config(config_path).engine)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@data.command("latency")
@click.option(
    "--parts",
    "parts_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory of part files (default: TRADING_RUNTIME_PARTS_DIR, data/parts).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the files go (default: latency/ in the parts directory, where configs read them).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Name the files as this config's engine.latency file (default: TRADING_RUNTIME_CONFIG;"
    " {part}.npz when it reads no per-part file).",
)
@click.option("--interval-ms", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--entry-multiplier", type=click.FloatRange(min=0), default=4.0, show_default=True)
@click.option("--response-multiplier", type=click.FloatRange(min=0), default=3.0, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite latency files already there.")
def data_latency(
    parts_dir: Path | None,
    out_dir: Path | None,
    config_path: Path | None,
    interval_ms: int,
    entry_multiplier: float,
    response_multiplier: float,
    force: bool,
) -> None:
    """Write each part's order latency, derived from its feed latency (hftbacktest's "Order
    Latency Data" method: feed latency sampled each interval, times the multipliers), as the
    file engine.latency intp_order_latency reads. Exit 1 if any part gave none."""
    from trading_runtime.config.engine import LATENCY_DIR
    from trading_runtime.data.ingest.feed_latency import (
        ExistingLatencyFilesError,
        LatencyMethod,
        latency_percentiles,
        write_order_latency,
    )
    from trading_runtime.data.parts_store import scan_parts
    from trading_runtime.layout import part_file_name
    from trading_runtime.settings import load_settings

    settings = load_settings()
    parts_dir = parts_dir or Path(settings.parts_dir)
    listing = scan_parts(parts_dir)
    if not listing.found:
        raise click.ClickException(f"no parts directory {parts_dir}")
    for name in listing.refused:
        echo_error(f"REFUSED {parts_dir / name}: {listing.reason(name)}")
    method = LatencyMethod(
        interval_ns=interval_ms * 1_000_000,
        entry_multiplier=entry_multiplier,
        response_multiplier=response_multiplier,
    )
    try:
        report = write_order_latency(
            [parts_dir / part_file_name(key) for key in listing.keys],
            out_dir or parts_dir / LATENCY_DIR,
            _latency_name(Path(config_path or settings.config)),
            method=method,
            force=force,
        )
    except ExistingLatencyFilesError as exc:
        raise click.ClickException(str(exc)) from None
    for written in report.written:
        stats = latency_percentiles(written.rows)
        click.echo(
            f"ok {written.path}: {len(written.rows)} rows, entry p50"
            f" {stats['entry_p50_ns'] / 1e6:g} ms, response p50"
            f" {stats['response_p50_ns'] / 1e6:g} ms"
        )
    for error in report.errors:
        echo_error(f"FAILED {error}")
    sys.exit(1 if report.errors or listing.refused else 0)
