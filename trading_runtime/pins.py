"""The trading-platform pin, read from the repository's ``.env`` (one place for the lock
script, the Makefile, the image build and the runtime)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from dotenv import dotenv_values

__all__ = ["DEFAULT_REPOSITORY", "FrameworkPin", "framework_pin", "framework_status"]

DEFAULT_REPOSITORY = "https://github.com/trading-engineering/trading-platform.git"
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class FrameworkPin:
    repository: str
    commit: str

    @property
    def requirement(self) -> str:
        return f"trading-platform @ git+{self.repository}@{self.commit}"


@cache
def framework_pin() -> FrameworkPin:
    """Environment first (the image sets it), then the repository's ``.env``."""
    env_file = dotenv_values(Path(__file__).resolve().parent.parent / ".env")
    repository = (
        os.environ.get("TRADING_PLATFORM_REPO")
        or env_file.get("TRADING_PLATFORM_REPO")
        or DEFAULT_REPOSITORY
    )
    commit = os.environ.get("TRADING_PLATFORM_COMMIT") or env_file.get("TRADING_PLATFORM_COMMIT")
    if commit is None:
        raise ValueError(
            "TRADING_PLATFORM_COMMIT is not set: it lives in the repository's .env (and in the"
            " image's environment)"
        )
    if not _SHA.match(commit):
        raise ValueError(f"TRADING_PLATFORM_COMMIT must be a 40-hex commit SHA, got {commit!r}")
    return FrameworkPin(repository=repository, commit=commit)


def framework_status() -> str:
    """What this installation has of trading-platform, for `trading-runtime info`: an image built
    with INSTALL_FRAMEWORK=false must never pass for a production image."""
    try:
        version = metadata.version("trading-platform")
    except metadata.PackageNotFoundError:
        return "absent (trading-platform is not installed; not a production image)"
    commit = os.environ.get("TRADING_PLATFORM_COMMIT") or "commit unknown"
    return f"trading-platform {version} ({commit})"
