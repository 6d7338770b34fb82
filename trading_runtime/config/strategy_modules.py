"""Where strategy code may come from, and finding it without running it.

A config's ``strategy.class_path`` ("module:attr") names code that an engine worker imports and
calls. Only modules under a prefix listed in ``TRADING_RUNTIME_STRATEGY_MODULES``
(comma-separated, default: the project's ``trading_runtime.strategies``) may be named. Anything
else is refused before it is imported: when the config is parsed (``config.StrategySection``) and
again in the worker (``adapters``), which is the only place a strategy module is ever imported.

The setting is read from the environment, not from ``settings.RuntimeSettings``: config parsing
does not depend on the runtime's settings, and spawned workers inherit the environment.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

__all__ = [
    "DEFAULT_STRATEGY_MODULES",
    "STRATEGY_MODULES_ENV",
    "allowed_strategy_modules",
    "find_module_source",
    "is_allowed_module",
    "strategy_refusal",
]

STRATEGY_MODULES_ENV = "TRADING_RUNTIME_STRATEGY_MODULES"
DEFAULT_STRATEGY_MODULES = ("trading_runtime.strategies",)
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def allowed_strategy_modules(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The allowed module prefixes: ``TRADING_RUNTIME_STRATEGY_MODULES``, or the default when it
    is unset or empty. A value that is not a list of module names fails naming the setting."""
    environ = os.environ if environ is None else environ
    raw = environ.get(STRATEGY_MODULES_ENV, "")
    prefixes = tuple(p.strip() for p in raw.split(",") if p.strip())
    if not prefixes:
        return DEFAULT_STRATEGY_MODULES
    bad = [p for p in prefixes if not _MODULE_NAME.fullmatch(p)]
    if bad:
        raise ValueError(
            f"{STRATEGY_MODULES_ENV}={raw!r}: {', '.join(map(repr, bad))} is not a module name;"
            " expected comma-separated module prefixes such as trading_runtime.strategies,my_pkg"
        )
    return prefixes


def is_allowed_module(module_name: str, prefixes: Sequence[str]) -> bool:
    """``module_name`` is one of ``prefixes`` or inside one (``a.b`` allows ``a.b.c``, not
    ``a.bc``)."""
    return any(module_name == p or module_name.startswith(p + ".") for p in prefixes)


def strategy_refusal(class_path: str, prefixes: Sequence[str] | None = None) -> str | None:
    """Why ``class_path`` may not be imported, or None when its module is allowed. Decided from
    the name alone: nothing is imported."""
    prefixes = allowed_strategy_modules() if prefixes is None else prefixes
    module_name = class_path.partition(":")[0]
    if is_allowed_module(module_name, prefixes):
        return None
    return (
        f"{class_path!r} is not allowed: module {module_name!r} is not under a prefix in"
        f" {STRATEGY_MODULES_ENV} ({','.join(prefixes)}); add its package to that setting"
        " (comma-separated module prefixes) to run strategies from it"
    )


def _top_level_spec(name: str) -> ModuleSpec | None:
    # The import system's finders (sys.meta_path, which includes editable installs) only look
    # for a top-level name; finding it does not execute it.
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def find_module_source(module_name: str) -> Path | None:
    """The file ``module_name`` would be loaded from, found without importing anything, parent
    packages included.

    ``importlib.util.find_spec("a.b.c")`` imports ``a`` and ``a.b`` (their ``__init__`` runs) to
    read their ``__path__``. Here only the top-level name goes through the import system's
    finders; each further component is looked up with ``PathFinder`` in the previous spec's
    ``submodule_search_locations`` (what ``__path__`` would be), and a namespace package's
    portions are the matching directories. Modules already imported are taken from
    ``sys.modules``. None when the module is not found or is not a file on disk (a zip import).
    """
    parts = module_name.split(".")
    spec: ModuleSpec | None = None
    locations: list[str] = []
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        loaded = sys.modules.get(name)
        if loaded is not None:
            spec = getattr(loaded, "__spec__", None)
        elif depth == 1:
            spec = _top_level_spec(name)
        elif not locations:
            return None  # the parent is a module, not a package
        else:
            try:
                spec = PathFinder.find_spec(name, locations)
            except KeyError:
                # A namespace package whose parent is not imported (importlib looks the parent up
                # in sys.modules): its portions are the parent's directories of that name.
                portions = [
                    os.path.join(d, parts[depth - 1])
                    for d in locations
                    if os.path.isdir(os.path.join(d, parts[depth - 1]))
                ]
                spec = ModuleSpec(name, None, is_package=True)
                spec.submodule_search_locations = portions
        if spec is None:
            return None
        locations = list(spec.submodule_search_locations or [])
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    return Path(spec.origin)
