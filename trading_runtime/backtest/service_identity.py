"""What a run and the warm engine service (``engine_service``) agree on before a task crosses:
whether the service is on, where it listens, the key that admits a client, and the code and
environment its workers run with.

The service belongs to one Dagster instance (``DAGSTER_HOME``) on one machine. It listens on a
Linux abstract Unix socket named after the instance's directory (no file to leave behind, no path
length limit) and admits only clients that know the key stored in the instance's directory
(readable by its owner only). A task crosses only when the client's *fingerprint* equals the
service's: same interpreter, same runtime source files, same working directory and the same
settings the workers read from the environment. Anything else runs on the run's own workers, so
a result never depends on whether the service was used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from stat import S_ISREG

import trading_runtime
from trading_runtime.backtest.memory import WORKER_MEMORY_ENV
from trading_runtime.config.strategy_modules import STRATEGY_MODULES_ENV, find_module_source
from trading_runtime.results.provenance import RUNTIME_GIT_COMMIT_ENV, strategy_source_hash

__all__ = [
    "DEFAULT_IDLE_S",
    "IDLE_ENV",
    "SERVICE_ENV",
    "SERVICE_MODES",
    "ServiceFiles",
    "environment_fingerprint",
    "idle_seconds",
    "module_source",
    "service_enabled",
    "strategy_identity",
]

SERVICE_ENV = "TRADING_RUNTIME_ENGINE_SERVICE"
IDLE_ENV = "TRADING_RUNTIME_ENGINE_SERVICE_IDLE_S"
SERVICE_MODES = ("auto", "on", "off")
# A service left with nothing to do exits: warm workers hold ~0.5 GB each.
DEFAULT_IDLE_S = 1800.0
# Read by the workers (or recorded by them): a service started with other values would give
# other results or other limits.
_WORKER_ENV = (STRATEGY_MODULES_ENV, WORKER_MEMORY_ENV, RUNTIME_GIT_COMMIT_ENV, "PYTHONPATH")
_ENGINE_PACKAGES = ("hftbacktest", "numba", "numpy", "polars", "pyarrow", "matplotlib")


def service_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """``TRADING_RUNTIME_ENGINE_SERVICE``: ``on``, ``off`` or ``auto`` (the default: on under
    ``dagster dev``/``make dev``, where each click starts a fresh run process). Only for a local
    instance (``DAGSTER_HOME`` set) on Linux; never on k8s, where each run is its own pod."""
    environ = os.environ if environ is None else environ
    mode = environ.get(SERVICE_ENV, "") or "auto"
    if mode not in SERVICE_MODES:
        raise ValueError(f"{SERVICE_ENV}={mode!r}: expected one of {', '.join(SERVICE_MODES)}")
    if mode == "off" or not sys.platform.startswith("linux") or not environ.get("DAGSTER_HOME"):
        return False
    if (environ.get("TRADING_RUNTIME_ENV", "") or "local") != "local":
        return False
    return mode == "on" or environ.get("DAGSTER_IS_DEV_CLI") == "1"


def idle_seconds(environ: Mapping[str, str] | None = None) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get(IDLE_ENV, "") or str(DEFAULT_IDLE_S)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{IDLE_ENV}={raw!r}: expected a positive number of seconds")
    return value


class ServiceFiles:
    """The service's address and files for the instance at ``home`` (``DAGSTER_HOME``)."""

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home).resolve()
        self.directory = self.home / ".trading-runtime"
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:24]
        # Abstract namespace (leading NUL): gone with the process, never a stale file.
        self.address = f"\0trading-runtime-engine-{digest}"
        self.key_path = self.directory / "engine-service.key"
        self.lock_path = self.directory / "engine-service.lock"
        self.log_path = self.directory / "engine-service.log"

    def read_key(self) -> bytes | None:
        """The key, if it is a regular file of this user's that nobody else may read or
        write; else None (no service: runs use their own workers)."""
        try:
            fd = os.open(self.key_path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            stat = os.fstat(handle.fileno())
            private = stat.st_uid == os.getuid() and not stat.st_mode & 0o077
            return (handle.read() or None) if private and S_ISREG(stat.st_mode) else None

    def create_key(self) -> bytes:
        """A new random key, readable by this user only, replacing any old one atomically."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        key = secrets.token_bytes(32)
        tmp = self.key_path.with_name(f".{self.key_path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with os.fdopen(os.open(tmp, flags, 0o600), "wb") as handle:
            handle.write(key)
        os.replace(tmp, self.key_path)
        return key


def _source_files() -> list[tuple[str, int, int]]:
    package = Path(trading_runtime.__file__).parent
    found = []
    for path in package.rglob("*.py"):
        stat = path.stat()
        found.append((str(path.relative_to(package)), stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def environment_fingerprint(environ: Mapping[str, str] | None = None) -> str:
    """sha256 of what the engine workers' results and limits depend on besides the task itself:
    the interpreter, the runtime's source files (path, size, modification time), the engine's
    library versions, the working directory and the environment the workers read."""
    environ = os.environ if environ is None else environ
    versions: dict[str, str | None] = {}
    for name in _ENGINE_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    document = {
        "python": [sys.executable, sys.version],
        "runtime": [str(Path(trading_runtime.__file__).parent), _source_files()],
        "packages": versions,
        "cwd": os.getcwd(),
        "env": {
            name: environ[name]
            for name in sorted(environ)
            if name in _WORKER_ENV or name.startswith("NUMBA_")
        },
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def strategy_identity(class_path: str) -> tuple[str, str | None, str]:
    """(module, its source file, ``provenance.strategy_source_hash``) of a config's strategy,
    found without importing it: a warm worker that imported an older version must not run this
    one."""
    module = class_path.partition(":")[0]
    return module, module_source(module), strategy_source_hash(class_path)


def module_source(module: str) -> str | None:
    """The file ``module`` would be imported from here (``find_module_source``)."""
    source = find_module_source(module)
    return None if source is None else str(source)
