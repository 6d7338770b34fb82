"""A config's canonical JSON and its hash: what identifies a stored result's config.

The canonical form leaves out what cannot change a result (``description``) and sections that
were added later when they are absent, so configs written before them keep their hash
(``tests/test_config_hash_golden.py`` pins the hashes).
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel

__all__ = ["canonical_json", "config_hash"]


def canonical_json(config: BaseModel) -> str:
    """Key-sorted, whitespace-free JSON of a ``BacktestConfig``'s everything but ``description``
    (prose that cannot change a result): the bytes the config hash is taken over."""
    content = config.model_dump(mode="json", exclude={"description"})
    if content.get("warmup") is None:  # configs without warm-up keep their hash
        content.pop("warmup", None)
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


def config_hash(config: BaseModel) -> str:
    """The sha256 (hex) of ``canonical_json(config)``."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()
