"""Helpers every command shares."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["echo_error", "format_metrics"]


def echo_error(message: str) -> None:
    click.secho(message, fg="red", err=True)


def format_metrics(metrics: dict[str, Any]) -> str:
    parts = []
    for key in ("pnl", "sharpe", "max_drawdown", "trades", "volume"):
        value = metrics.get(key)
        parts.append(f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
