"""The one environment switch. Every resource choice keys off ``RuntimeSettings.env``.

Environment variables (all optional on a laptop):
  TRADING_RUNTIME_ENV        local (default) | k8s
  TRADING_RUNTIME_PARTS_DIR  directory of part files            (default: data/parts)
  TRADING_RUNTIME_RAW_DIR    raw exchange files, in <raw>/<format>/ (default: data/raw); they
                             convert into the parts directory (a local one)
  TRADING_RUNTIME_RAW_WINDOW window raw files are cut on: 30m, 1h, 1d or none (default: 1h)
  TRADING_RUNTIME_RAW_SNAPSHOTS  on | off: each part after a day's first starts from the
                             previous part's book, by the config's tick and lot size (default: on)
  TRADING_RUNTIME_RAW_LATENCY  on | off: the conversion also writes each part's order latency
                             from its feed into <parts>/latency/, named as the config's
                             intp_order_latency file (data.ingest.feed_latency; default: off)
  TRADING_RUNTIME_SWEEPS_DIR sweep files (*.json): each one's variants are partitions of
                             backtest_results (default: sweeps beside the parts directory)
  TRADING_RUNTIME_RESULTS    results base: a directory or any UPath URL such as s3://bucket/prefix
                             (default: results; required to be a URL in k8s)
  TRADING_RUNTIME_CONFIG     backtest config JSON     (default: the packaged hftbacktest example)
  TRADING_RUNTIME_TIMEOUT_S  seconds per part backtest (default: layout.DEFAULT_TIMEOUT_S, 900)
  TRADING_RUNTIME_STARTUP_TIMEOUT_S  seconds to prepare a part's backtest before its timeout
                             starts: validation and strategy compilation (default: 300)
  TRADING_RUNTIME_WORKERS    engine worker processes per run (default: number of cores)
  TRADING_RUNTIME_WORKER_MEMORY_MB  each engine worker's memory limit in MB, 0 for none
                             (default: 3/4 of the machine's or container's memory over the
                             workers, at least 1024; backtest/memory.py). Read by the worker pools.
  TRADING_RUNTIME_EXECUTOR   in_process (default) | k8s_job (k8s only: every step its own pod)
  TRADING_RUNTIME_POD_CPU    k8s: CPU request of a backtest pod (default: the workers)
  TRADING_RUNTIME_POD_MEMORY k8s: memory request and limit of a backtest pod (default: 4Gi)
  TRADING_RUNTIME_AUTOMATION on | off: Dagster's declarative automation (a new part file is
                             backtested and the aggregate refreshed, with no click; needs the
                             daemon: `make dev`). Default: on locally, off on k8s, where every
                             automated run starts pods in a shared cluster (size the run queue
                             first; see defs/automation.py).
  TRADING_RUNTIME_STORAGE_RETRY_S  seconds a command waits, retrying with backoff, for an
                             unreachable instance storage (PostgreSQL restarting, SQLite locked)
                             before failing with one line; 0: no retry (default: 30)
  TRADING_RUNTIME_ENGINE_SERVICE  auto | on | off: keep warm engine workers in a local service
                             across runs, so a run launched alone (a click in the UI) does not
                             compile the strategy again (backtest/engine_service.py). Default
                             auto: on under `dagster dev` (`make dev`) with DAGSTER_HOME set;
                             local only
  TRADING_RUNTIME_ENGINE_SERVICE_IDLE_S  seconds the service waits for a task before it exits
                             (default: 1800)
  TRADING_RUNTIME_STRATEGY_MODULES
                             comma-separated module prefixes a config's strategy.class_path may
                             name (default: trading_runtime.strategies). Not a RuntimeSettings
                             field: config parsing and the engine workers read it from the
                             environment (``strategy_modules.allowed_strategy_modules``), and
                             ``load_settings`` checks it with the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from trading_runtime.backtest.memory import worker_memory_limit_mb
from trading_runtime.backtest.service_identity import DEFAULT_IDLE_S
from trading_runtime.config import example_config_path
from trading_runtime.config.strategy_modules import STRATEGY_MODULES_ENV, allowed_strategy_modules
from trading_runtime.data.ingest.window_text import parse_window
from trading_runtime.layout import DEFAULT_STARTUP_TIMEOUT_S, DEFAULT_TIMEOUT_S

__all__ = [
    "ENV_PREFIX",
    "STRATEGY_MODULES_ENV",
    "RuntimeSettings",
    "SettingsError",
    "allowed_strategy_modules",
    "load_settings",
]

ENV_PREFIX = "TRADING_RUNTIME_"
# How long a command retries an unreachable instance storage (runs/storage_retry.py): a
# PostgreSQL restart or failover takes seconds; longer than an hour is an outage to page about.
DEFAULT_STORAGE_RETRY_S = 30.0
MAX_STORAGE_RETRY_S = 3600.0


class SettingsError(ValueError):
    """A ``TRADING_RUNTIME_*`` variable with a value the runtime cannot use; the message (one
    line) names the variable, the value given and what is expected."""


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    env: Literal["local", "k8s"] = "local"
    parts_dir: str = "data/parts"
    raw_dir: str = "data/raw"
    # None: ``sweeps`` beside the parts directory (data/parts -> data/sweeps).
    sweeps_dir: str | None = None
    raw_window: str = "1h"
    raw_snapshots: Literal["on", "off"] = "on"
    raw_latency: Literal["on", "off"] = "off"
    results: str = "results"
    config: str = Field(default_factory=lambda: str(example_config_path("hftbacktest")))
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0)
    startup_timeout_s: float = Field(default=DEFAULT_STARTUP_TIMEOUT_S, gt=0)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    executor: Literal["in_process", "k8s_job"] = "in_process"
    pod_cpu: str | None = None
    pod_memory: str = "4Gi"
    automation: Literal["on", "off"] | None = None
    storage_retry_s: float = Field(
        default=DEFAULT_STORAGE_RETRY_S, ge=0, le=MAX_STORAGE_RETRY_S, allow_inf_nan=False
    )
    # Read from the environment by the pools (``backtest.service_identity``); checked here.
    engine_service: Literal["auto", "on", "off"] = "auto"
    engine_service_idle_s: float = Field(default=DEFAULT_IDLE_S, gt=0, allow_inf_nan=False)

    @field_validator("raw_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)  # "30m", "1h", "1d" or "none": the error names the variable
        return value

    @model_validator(mode="after")
    def _cluster_needs_shared_storage(self) -> RuntimeSettings:
        if self.env == "k8s" and "://" not in self.results:
            raise ValueError(
                "TRADING_RUNTIME_RESULTS must be an object-store URL (e.g. s3://bucket/results)"
                " when TRADING_RUNTIME_ENV=k8s: pods share no disk"
            )
        if self.engine_service == "on" and self.env != "local":
            raise ValueError(
                "TRADING_RUNTIME_ENGINE_SERVICE=on needs TRADING_RUNTIME_ENV=local: on k8s each"
                " run is its own pod, with its own workers"
            )
        if self.executor == "k8s_job" and self.env != "k8s":
            raise ValueError("TRADING_RUNTIME_EXECUTOR=k8s_job needs TRADING_RUNTIME_ENV=k8s")
        return self

    @property
    def is_local(self) -> bool:
        return self.env == "local"

    @property
    def sweeps(self) -> str:
        """Where sweep files live: the setting, else ``sweeps`` beside the parts directory."""
        if self.sweeps_dir:
            return self.sweeps_dir
        from upath import UPath  # a path or a URL alike (s3://bucket/parts -> s3://bucket/sweeps)

        return str(UPath(self.parts_dir).parent / "sweeps")

    @property
    def automation_enabled(self) -> bool:
        """Declarative automation: on unless turned off; on k8s only when turned on."""
        return self.automation == "on" if self.automation is not None else self.is_local

    def backtest_pod_resources(self) -> dict[str, dict[str, str]]:
        """Container resources of the pod that runs backtests: one CPU per engine worker."""
        cpu = self.pod_cpu or str(self.workers)
        return {
            "requests": {"cpu": cpu, "memory": self.pod_memory},
            "limits": {"memory": self.pod_memory},
        }


def load_settings(environ: Mapping[str, str] | None = None) -> RuntimeSettings:
    environ = os.environ if environ is None else environ
    values = {
        name: environ[ENV_PREFIX + name.upper()]
        for name in RuntimeSettings.model_fields
        if environ.get(ENV_PREFIX + name.upper())
    }
    try:
        allowed_strategy_modules(environ)
        worker_memory_limit_mb(1, environ)  # read by the worker pools; checked with the rest
        return RuntimeSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(_problem(e["loc"], e["msg"], environ) for e in exc.errors())
        raise SettingsError(f"invalid trading-runtime settings: {problems}") from None
    except ValueError as exc:  # the strategy allow-list and the memory limit name themselves
        raise SettingsError(f"invalid trading-runtime settings: {exc}") from None


def _problem(loc: tuple[int | str, ...], message: str, environ: Mapping[str, str]) -> str:
    """One setting's problem: the variable, the value given and what is expected."""
    message = " ".join(message.removeprefix("Value error, ").split())
    if not loc:
        return message
    variable = f"{ENV_PREFIX}{'.'.join(map(str, loc)).upper()}"
    return f"{variable}={environ.get(variable, '')!r}: {message}"
