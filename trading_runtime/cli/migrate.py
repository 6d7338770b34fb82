"""`trading-runtime migrate-instance`: an instance made before variants, moved to part x variant
partition keys (``runs.migrate``)."""

from __future__ import annotations

import click

__all__ = ["migrate_instance"]


@click.command("migrate-instance")
def migrate_instance() -> None:
    """Once, after upgrading to variants: record the configured backtest's results, stored per
    part by an earlier version, under their new partition keys (<part>|base), so `materialize`
    finds them up to date instead of running every part again."""
    from trading_runtime.data.parts_store import scan_parts
    from trading_runtime.runs.instance import InstanceConfigError, open_instance
    from trading_runtime.runs.migrate import migrate_part_keyed_results
    from trading_runtime.settings import load_settings

    settings = load_settings()
    try:
        instance = open_instance(settings.storage_retry_s)
    except InstanceConfigError as exc:
        raise click.ClickException(str(exc)) from None
    listing = scan_parts(settings.parts_dir)
    if not listing.found:
        raise click.ClickException(f"parts directory {settings.parts_dir} not found")
    migrated = migrate_part_keyed_results(instance, listing.keys)
    click.echo(
        f"{len(migrated)} of {len(listing.keys)} part(s) migrated to <part>|base"
        + (
            f": {', '.join(migrated[:10])}{' ...' if len(migrated) > 10 else ''}"
            if migrated
            else ""
        )
    )
