"""``trading-runtime argo``: render or submit a batch of backtests on Argo Workflows.

The batch runs the WorkflowTemplate ``argo/workflowtemplate-backtest.yaml`` (apply it first); the
logic lives in :mod:`trading_runtime.argo` (hera is imported only when a command runs).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from trading_runtime.argo.batch import (
    BACKTEST_TEMPLATE,
    DEFAULT_IMAGE_REPOSITORY,
    DEFAULT_NAMESPACE,
    DEFAULT_PARALLELISM,
    DEFAULT_SERVICE_ACCOUNT,
)
from trading_runtime.layout import DEFAULT_TIMEOUT_S

__all__ = ["argo"]

F = TypeVar("F", bound=Callable[..., Any])

_TRUE = ("1", "true", "yes", "on")


def _batch_options(function: F) -> F:
    """The options render and submit share: what to run, where, and how wide."""
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            default=None,
            help="Backtest config (JSON). Default: TRADING_RUNTIME_CONFIG or the packaged example.",
        ),
        click.option(
            "--parts",
            multiple=True,
            metavar="KEY",
            help="Part key (file name without .npz, e.g. p0001), repeatable. Default: every"
            " *.npz in TRADING_RUNTIME_PARTS_DIR (data/parts).",
        ),
        click.option("--image-tag", default=None, help=f"Tag of {DEFAULT_IMAGE_REPOSITORY}."),
        click.option(
            "--image", default=None, help="Full image reference with tag or digest instead."
        ),
        click.option(
            "--sweep",
            "sweep_path",
            type=click.Path(path_type=Path),
            default=None,
            help='JSON list of override objects, e.g. [{"strategy.quote_offset_ticks": 1}, ...],'
            ' or a grid, e.g. {"strategy.order_qty": [0.1, 0.15]}; each point is a variant'
            " (results under RESULTS_URL/<variant>/).",
        ),
        click.option(
            "--parts-url", required=True, help="Object-store prefix of the parts (s3://…)."
        ),
        click.option(
            "--results-url", required=True, help="Object-store prefix for results (s3://…)."
        ),
        click.option(
            "--parallelism",
            type=click.IntRange(min=1),
            default=DEFAULT_PARALLELISM,
            show_default=True,
            help="Pods at once (the workflow's spec.parallelism).",
        ),
        click.option(
            "--timeout",
            "timeout_s",
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_TIMEOUT_S,
            show_default=True,
            help="Seconds per part backtest.",
        ),
        click.option(
            "--namespace",
            envvar="ARGO_NAMESPACE",
            show_envvar=True,
            default=DEFAULT_NAMESPACE,
            show_default=True,
        ),
        click.option(
            "--template-name",
            default=BACKTEST_TEMPLATE,
            show_default=True,
            help="Name of the applied backtest WorkflowTemplate.",
        ),
        click.option(
            "--service-account",
            default=DEFAULT_SERVICE_ACCOUNT,
            show_default=True,
            help="Service account of the pods ('' for the template's).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _prepare(options: dict[str, Any]) -> Any:
    from trading_runtime.argo import ArgoError, prepare_batch
    from trading_runtime.settings import load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        batch = prepare_batch(
            config_path=options["config_path"] or settings.config,
            parts=options["parts"],
            parts_dir=settings.parts_dir,
            image=options["image"],
            image_tag=options["image_tag"],
            sweep_path=options["sweep_path"],
            parts_url=options["parts_url"],
            results_url=options["results_url"],
            parallelism=options["parallelism"],
            timeout_s=options["timeout_s"],
            namespace=options["namespace"],
            template_name=options["template_name"],
            service_account=options["service_account"],
        )
    except ArgoError as exc:
        raise click.ClickException(str(exc)) from None
    # A summary for people; stdout stays the manifest alone.
    click.echo(
        f"{len(batch.parts) * len(batch.variants)} backtest(s): {len(batch.parts)} part(s) x"
        f" {len(batch.variants)} variant(s), image {batch.image}",
        err=True,
    )
    for variant in sorted(batch.variants, key=lambda v: v.id):
        click.echo(
            f"  variant {variant.id}: overrides {variant.overrides_json} ->"
            f" {batch.results_url}/{variant.id}/",
            err=True,
        )
    return batch


@click.group()
def argo() -> None:
    """Batch backtests on Argo Workflows (WorkflowTemplate argo/workflowtemplate-backtest.yaml)."""


@argo.command()
@_batch_options
def render(**options: Any) -> None:
    """Print the Workflow (YAML) that runs the backtest template over parts x variants; same
    inputs, same bytes. Submit it with `argo submit -` or `kubectl create -f -`."""
    from trading_runtime.argo import render_yaml

    click.echo(render_yaml(_prepare(options)), nl=False)


@argo.command()
@_batch_options
@click.option(
    "--host",
    envvar="ARGO_SERVER",
    show_envvar=True,
    required=True,
    help="Argo server URL (https://argo.example.com, or host:port as the argo CLI takes it).",
)
@click.option(
    "--token",
    envvar="ARGO_TOKEN",
    show_envvar=True,
    default=None,
    help="Bearer token, with or without the 'Bearer ' prefix. Never printed.",
)
@click.option(
    "--verify-ssl/--insecure",
    default=None,
    help="Verify the server's TLS certificate (default; ARGO_INSECURE_SKIP_VERIFY=true skips).",
)
@click.option("--wait", is_flag=True, help="Wait for the end; exit non-zero unless Succeeded.")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=86400.0,
    show_default=True,
    help="Seconds to wait at most.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds between status checks.",
)
def submit(
    host: str,
    token: str | None,
    verify_ssl: bool | None,
    wait: bool,
    wait_timeout: float,
    poll_interval: float,
    **options: Any,
) -> None:
    """Submit the batch to an Argo server; print the workflow name and its UI link."""
    from trading_runtime.argo import (
        ArgoClient,
        ArgoError,
        build_workflow,
        server_url,
        workflow_link,
    )

    batch = _prepare(options)
    if verify_ssl is None:
        verify_ssl = os.environ.get("ARGO_INSECURE_SKIP_VERIFY", "").lower() not in _TRUE
    secure = os.environ.get("ARGO_SECURE", "true").lower() in _TRUE
    try:
        base = server_url(host, secure=secure)
        client = ArgoClient(
            host=base, namespace=batch.namespace, token=token, verify_ssl=verify_ssl
        )
        name = client.create(build_workflow(batch))
    except ArgoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(name)
    click.echo(workflow_link(base, batch.namespace, name))
    if not wait:
        return

    def report(phase: str, message: str) -> None:
        click.echo(f"{name}: {phase or 'Pending'}" + (f" ({message})" if message else ""), err=True)

    try:
        phase, message = client.wait(
            name, timeout_s=wait_timeout, poll_interval_s=poll_interval, on_phase=report
        )
    except ArgoError as exc:
        raise click.ClickException(str(exc)) from None
    if phase != "Succeeded":
        click.secho(
            f"workflow {name} {phase}" + (f": {message}" if message else ""), fg="red", err=True
        )
        sys.exit(1)
    click.echo(
        f"results: {batch.results_url}/<variant>/backtest_results/ and"
        f" {batch.results_url}/<variant>/aggregate_metrics.parquet"
    )
