"""Loading a config: JSON from a file (or already parsed), validated, every error naming the file
and the field path; and dotted-key overrides (``apply_overrides``), validated again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from trading_runtime.config.model import STRATEGY_KEYS, BacktestConfig
from trading_runtime.config.rules import ConfigError

__all__ = ["JsonFileError", "apply_overrides", "load_config", "parse_config", "read_json_file"]

# Fields holding a choice by ``type``: pydantic puts the chosen type into an error's location
# (engine.latency.constant.entry_ns); a config's field path has no such step.
_TAGGED_FIELDS = ("queue_model", "latency", "depth")


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [
        str(part)
        for i, part in enumerate(loc)
        if not (i > 0 and loc[i - 1] in _TAGGED_FIELDS and loc[:1] == ("engine",))
    ]
    return ".".join(parts) or "<root>"


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = _field_path(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "missing field"
        lines.append(f"{location}: {_printable(message)}")
    return f"invalid backtest config {source}:\n  " + "\n  ".join(lines)


def _printable(text: str) -> str:
    """Control characters of a quoted input escaped (``\\x1e``): one error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class JsonFileError(ValueError):
    """A local JSON file that cannot be read or parsed: one line naming it (what and path)."""


def read_json_file(path: Path, what: str) -> Any:
    """The JSON document in a local file; ``JsonFileError`` (``<what> <path>: ...``) when it is
    missing, unreadable or not JSON, with the line and column of a syntax error. Configs and
    sweep files are read through it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JsonFileError(f"{what} {path}: file does not exist") from None
    except OSError as exc:
        raise JsonFileError(f"{what} {path}: cannot read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonFileError(
            f"{what} {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def parse_config(raw: Any, source: str = "<config>") -> BacktestConfig:
    try:
        return BacktestConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


def load_config(path: str | Path) -> BacktestConfig:
    """Load and validate a JSON config; every error names the file and the field path."""
    path = Path(path)
    try:
        raw = read_json_file(path, "backtest config")
    except JsonFileError as exc:
        raise ConfigError(str(exc)) from None
    return parse_config(raw, str(path))


def apply_overrides(
    config: BacktestConfig, overrides: Mapping[str, Any], source: str = "<config>"
) -> BacktestConfig:
    """The config with dotted-key overrides applied (``{"strategy.quote_offset_ticks": 2}``),
    validated again; a key that names no field fails with the key in the message.

    Strategy parameters may be named flat (``strategy.skew``) or under ``strategy.params``.
    """
    raw = config.model_dump(mode="json")
    for dotted, value in sorted(overrides.items()):
        path = dotted.split(".")
        if not all(path):
            raise ConfigError(
                f"override {dotted!r}: expected a dotted key such as engine.tick_size"
            )
        if path[0] == "strategy" and len(path) == 2 and path[1] not in STRATEGY_KEYS:
            path = ["strategy", "params", path[1]]
        node = raw
        for depth, name in enumerate(path[:-1]):
            child = node.get(name)
            if child is None and name in node:  # an optional section not set in the config
                child = node[name] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(f"override {dotted!r}: {where} is not a section of the config")
            node = child
        node[path[-1]] = value
    with_overrides = f"{source} with overrides {json.dumps(dict(sorted(overrides.items())))}"
    return parse_config(raw, with_overrides)
