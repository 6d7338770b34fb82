"""A sweep's variants and their keys.

A variant is the base config with one point's overrides applied. Its ``id`` is the first
``VARIANT_ID_LENGTH`` hex digits of the effective config's hash: the Argo path's results directory
(``<results-url>/<id>/``), unchanged. Its ``key`` is what a Dagster partition may be called: a short
readable name from the overrides, ``-``, then the id, e.g.
``quote_offset_ticks=1_order_qty=0.1-0123456789ab``; a config without a sweep is the one variant
``base-<id>``.

Dagster silently drops multi-partition keys containing ``|``, ``,``, ``[`` or ``]``, so a key is
built from ``VARIANT_KEY_CHARACTERS`` only (letters, digits, ``.``, ``_``, ``-``, ``=``): any other
character of a name or value becomes ``_``. A key has at most ``MAX_VARIANT_KEY_LENGTH``
characters: the readable part is cut, the id never is, so keys stay unique.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE_VARIANT_KEY",
    "BASE_VARIANT_NAME",
    "FORBIDDEN_KEY_CHARACTERS",
    "MAX_VARIANT_KEY_LENGTH",
    "VARIANT_ID_LENGTH",
    "VARIANT_KEY_CHARACTERS",
    "Variant",
    "compact_json",
    "variant_id_of",
    "variant_key",
    "variant_key_problem",
    "variant_name",
]

VARIANT_ID_LENGTH = 12
MAX_VARIANT_KEY_LENGTH = 100
BASE_VARIANT_NAME = "base"
# The configured backtest itself in Dagster's variant dimension: a key without a hash, so that
# editing the config makes its results stale (the code version) rather than a new variant, and
# its results stay where they always were (<results>/backtest_results/<part>/).
BASE_VARIANT_KEY = "base"
VARIANT_KEY_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._-=")
# What Dagster's multi-partition keys cannot hold (it joins dimensions with "|" and drops keys
# with these silently); refused by name in ``variant_key_problem``.
FORBIDDEN_KEY_CHARACTERS = ("|", ",", "[", "]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]")


def compact_json(value: Any) -> str:
    """Stable compact JSON (sorted keys, no spaces): how overrides are shown and passed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)  # the shortest text that reads back as this float: 0.1, 1e-05
    if isinstance(value, str):
        return value
    return compact_json(value)


def variant_name(overrides: Mapping[str, Any]) -> str:
    """The readable part of a key: ``<last segment of the dotted key>=<value>`` per override, in
    key order, joined by ``_``; ``base`` without overrides. Unsafe characters become ``_``."""
    if not overrides:
        return BASE_VARIANT_NAME
    pairs = (f"{key.rsplit('.', 1)[-1]}={_value_text(overrides[key])}" for key in sorted(overrides))
    return _UNSAFE.sub("_", "_".join(pairs))


def variant_key(overrides: Mapping[str, Any], variant_id: str) -> str:
    """``<name>-<id>``, at most ``MAX_VARIANT_KEY_LENGTH`` characters (the name is cut)."""
    room = MAX_VARIANT_KEY_LENGTH - len(variant_id) - 1
    name = variant_name(overrides)[:room].rstrip("_=-.") or BASE_VARIANT_NAME
    return f"{name}-{variant_id}"


def variant_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a variant partition key, or None. Dagster drops multi-partition keys
    holding ``|``, ``,``, ``[`` or ``]``; keys here hold only ``VARIANT_KEY_CHARACTERS``."""
    if not key:
        return "empty"
    forbidden = [c for c in FORBIDDEN_KEY_CHARACTERS if c in key]
    if forbidden:
        shown = " ".join(repr(c) for c in forbidden)
        return f"contains {shown}, which Dagster drops from multi-partition keys"
    other = sorted({c for c in key if c not in VARIANT_KEY_CHARACTERS})
    if other:
        return (
            f"contains {' '.join(repr(c) for c in other)}; a variant key has letters, digits,"
            " '.', '_', '-' and '='"
        )
    if len(key) > MAX_VARIANT_KEY_LENGTH:
        return f"longer than {MAX_VARIANT_KEY_LENGTH} characters"
    return None


def variant_id_of(key: str) -> str | None:
    """The id (config hash prefix) a variant key ends with; None for ``BASE_VARIANT_KEY``."""
    if key == BASE_VARIANT_KEY:
        return None
    problem = variant_key_problem(key)
    if problem:
        raise ValueError(f"variant {key!r}: {problem}")
    name, _, variant_id = key.rpartition("-")
    if not name or len(variant_id) != VARIANT_ID_LENGTH or _not_hex(variant_id):
        raise ValueError(f"variant {key!r}: not '<name>-<{VARIANT_ID_LENGTH} hex digits>'")
    return variant_id


def _not_hex(variant_id: str) -> bool:
    return any(c not in string.hexdigits.lower() for c in variant_id)


@dataclass(frozen=True)
class Variant:
    """One config of a sweep: the overrides applied to the base config, and the effective
    config's hash. ``id`` is the hash prefix (the Argo results directory), ``key`` the partition
    key."""

    id: str
    overrides: Mapping[str, Any]
    config_hash: str

    @property
    def overrides_json(self) -> str:
        return compact_json(dict(self.overrides))

    @property
    def key(self) -> str:
        return variant_key(self.overrides, self.id)
