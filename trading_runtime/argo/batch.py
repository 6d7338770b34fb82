"""A batch of backtests for Argo Workflows: parts x config variants, validated from command-line
inputs. See ``workflow`` for the Workflow it becomes and ``client`` for its submission.

Results layout (each variant is a complete results base, the layout Dagster uses):
``<results-url>/<variant>/backtest_results/<part>/`` and
``<results-url>/<variant>/aggregate_metrics.parquet``. A variant id is the first 12 hex digits of
the effective config's hash, so one directory only ever holds results of one config.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading_runtime.config import BacktestConfig, ConfigError, apply_overrides
from trading_runtime.layout import DEFAULT_TIMEOUT_S, PART_SUFFIX

__all__ = [
    "BACKTEST_TEMPLATE",
    "DEFAULT_IMAGE_REPOSITORY",
    "DEFAULT_NAMESPACE",
    "DEFAULT_PARALLELISM",
    "DEFAULT_SERVICE_ACCOUNT",
    "ArgoError",
    "ArgoUnreachableError",
    "Batch",
    "Variant",
    "image_reference",
    "load_sweep",
    "object_store_url",
    "part_keys",
    "plan_variants",
    "prepare_batch",
    "strategy_parameter_problem",
]

BACKTEST_TEMPLATE = "trading-runtime-backtest"
DEFAULT_IMAGE_REPOSITORY = "ghcr.io/trading-engineering/trading-runtime"
DEFAULT_NAMESPACE = "argo"
DEFAULT_SERVICE_ACCOUNT = "argo-workflow"
DEFAULT_PARALLELISM = 10
# Around the backtest's own timeout a pod downloads the part, compiles the strategy (numba) and
# uploads the results; the pod's hard deadline (activeDeadlineSeconds) allows for that.
POD_DEADLINE_MARGIN_S = 900
VARIANT_ID_LENGTH = 12

# Docker's tag grammar; a part key becomes an object key and a pod argument.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PART_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*")


class ArgoError(Exception):
    """A batch that cannot be rendered or submitted; the message says what to change."""


class ArgoUnreachableError(ArgoError):
    """No answer from the Argo server (connection refused, TLS, timeout): maybe transient."""


@dataclass(frozen=True)
class Variant:
    """One config of a sweep: the overrides applied to the base config, and the result."""

    id: str
    overrides: Mapping[str, Any]
    config_hash: str

    @property
    def overrides_json(self) -> str:
        return json.dumps(dict(self.overrides), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Batch:
    """Everything the backtest WorkflowTemplate needs, validated."""

    image: str
    config: BacktestConfig
    parts: tuple[str, ...]
    variants: tuple[Variant, ...]
    parts_url: str
    results_url: str
    parallelism: int = DEFAULT_PARALLELISM
    timeout_s: float = DEFAULT_TIMEOUT_S
    namespace: str = DEFAULT_NAMESPACE
    template_name: str = BACKTEST_TEMPLATE
    service_account: str | None = DEFAULT_SERVICE_ACCOUNT

    def items(self) -> list[dict[str, str]]:
        """One fan-out item per (variant, part), in a stable order."""
        return [
            {"part": part, "variant": variant.id, "overrides": variant.overrides_json}
            for variant in sorted(self.variants, key=lambda v: v.id)
            for part in self.parts
        ]

    def config_json(self) -> str:
        """The base config as the pods receive it: what was validated, in stable bytes."""
        return _compact_json(self.config.model_dump(mode="json"))

    def parameters(self) -> dict[str, str]:
        """The WorkflowTemplate's parameters, in its declaration order."""
        return {
            "image": self.image,
            "config": self.config_json(),
            "parts-url": self.parts_url,
            "results-url": self.results_url,
            "items": _compact_json(self.items()),
            "variants": _compact_json(sorted(v.id for v in self.variants)),
            "timeout-s": _number(self.timeout_s),
            "pod-deadline-s": str(math.ceil(self.timeout_s) + POD_DEADLINE_MARGIN_S),
        }


def _compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def image_reference(image: str | None = None, image_tag: str | None = None) -> str:
    """The runtime image: ``--image`` (a full reference with a tag or digest) or ``--image-tag``
    (on the project's repository); exactly one."""
    if bool(image) == bool(image_tag):
        raise ArgoError("give exactly one of --image (full reference) or --image-tag")
    if image_tag:
        if not _TAG.fullmatch(image_tag):
            raise ArgoError(
                f"--image-tag {image_tag!r}: not a valid image tag ([A-Za-z0-9_.-], at most 128,"
                " not starting with . or -)"
            )
        return f"{DEFAULT_IMAGE_REPOSITORY}:{image_tag}"
    assert image is not None
    name, at, digest = image.partition("@")
    if at:
        if not _DIGEST.fullmatch(digest):
            raise ArgoError(f"--image {image!r}: the digest must be sha256:<64 hex>")
    else:
        repository, colon, tag = name.rpartition(":")
        if not colon or "/" in tag or not _TAG.fullmatch(tag):
            raise ArgoError(
                f"--image {image!r}: give a tag or digest (e.g. {DEFAULT_IMAGE_REPOSITORY}:<sha>);"
                " an implicit :latest would make runs unrepeatable"
            )
        name = repository
    if not name or any(c.isspace() for c in image):
        raise ArgoError(f"--image {image!r}: not an image reference")
    return image


def object_store_url(url: str, option: str) -> str:
    """An object-store prefix (``s3://bucket/prefix``) without a trailing slash."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or not rest.strip("/"):
        raise ArgoError(
            f"{option} {url!r}: expected an object-store URL such as s3://bucket/prefix (pods"
            " share no disk)"
        )
    if scheme in ("file", "local"):
        raise ArgoError(f"{option} {url!r}: a local path is not reachable from the pods")
    return url.rstrip("/")


def part_keys(parts: Iterable[str], parts_dir: str | Path | None = None) -> tuple[str, ...]:
    """Partition keys, sorted and unique: the given ones (``p0001`` or ``p0001.npz``), or every
    part file in ``parts_dir``."""
    keys = {part.strip().removesuffix(PART_SUFFIX) for part in parts}  # keys, not paths
    if not keys:
        if parts_dir is None:
            raise ArgoError("no parts given (--parts) and no parts directory")
        from trading_runtime.storage import list_part_keys

        keys = set(list_part_keys(parts_dir))
        if not keys:
            raise ArgoError(f"no part files (*{PART_SUFFIX}) in {parts_dir}; pass --parts KEY")
    bad = sorted(key for key in keys if not _PART_KEY.fullmatch(key))
    if bad:
        raise ArgoError(
            f"part key(s) {', '.join(map(repr, bad))}: expected a file stem such as p0001"
            " (letters, digits, . _ - = +)"
        )
    return tuple(sorted(keys))


def load_sweep(path: str | Path) -> list[dict[str, Any]]:
    """A sweep file: a JSON list of override objects with dotted keys, one variant each."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArgoError(f"sweep {path}: file does not exist") from None
    except json.JSONDecodeError as exc:
        raise ArgoError(
            f"sweep {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    example = '[{"strategy.quote_offset_ticks": 1}, {"strategy.quote_offset_ticks": 2}]'
    if not isinstance(raw, list) or not raw:
        raise ArgoError(f"sweep {path}: expected a non-empty JSON list of objects, e.g. {example}")
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ArgoError(
                f"sweep {path}: entry {index} is {type(entry).__name__}, expected an object of"
                f" dotted keys, e.g. {example}"
            )
    return raw


def plan_variants(
    config: BacktestConfig,
    sweep: Sequence[Mapping[str, Any]] | None = None,
    source: str = "<config>",
    sweep_source: str = "<sweep>",
) -> tuple[Variant, ...]:
    """The variants of a batch: the config itself without a sweep, else one per sweep entry,
    each validated with its overrides applied (errors name the entry and the key)."""
    entries: Sequence[Mapping[str, Any]] = sweep if sweep is not None else [{}]
    variants: list[Variant] = []
    seen: dict[str, int] = {}
    for index, overrides in enumerate(entries):
        where = f"sweep {sweep_source} entry {index}: " if sweep is not None else ""
        try:
            effective = apply_overrides(config, overrides, source) if overrides else config
        except ConfigError as exc:
            raise ArgoError(f"{where}{exc}") from None
        problem = strategy_parameter_problem(effective)
        if problem:
            given = f"overrides {_compact_json(dict(overrides))}" if overrides else "config"
            raise ArgoError(f"{where}backtest config {source} with {given}: {problem}")
        config_hash = effective.config_hash()
        variant_id = config_hash[:VARIANT_ID_LENGTH]
        if variant_id in seen:
            raise ArgoError(
                f"sweep {sweep_source}: entries {seen[variant_id]} and {index} give the same"
                " config; each variant must differ"
            )
        seen[variant_id] = index
        variants.append(Variant(variant_id, dict(overrides), config_hash))
    return tuple(variants)


def strategy_parameter_problem(config: BacktestConfig) -> str | None:
    """Strategy parameters the strategy does not take (a mistyped override would otherwise fail
    only in the pods). Checked for the hftbacktest adapter when the strategy imports here."""
    if config.adapter != "hftbacktest":
        return None
    from trading_runtime.adapters.base import EngineError
    from trading_runtime.adapters.hftbacktest_adapter import HftbacktestAdapter, strategy_arguments

    try:
        strategy = HftbacktestAdapter().load_strategy(config)
    except (EngineError, ImportError):
        return None  # only in the image; the pods report it
    try:
        strategy_arguments(strategy, config.strategy.class_path, dict(config.strategy.params), 0)
    except EngineError as exc:
        return str(exc)
    return None


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,51}[a-z0-9])?")


def prepare_batch(
    *,
    config_path: str | Path,
    parts: Iterable[str],
    parts_url: str,
    results_url: str,
    image: str | None = None,
    image_tag: str | None = None,
    sweep_path: str | Path | None = None,
    parts_dir: str | Path | None = None,
    parallelism: int = DEFAULT_PARALLELISM,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    namespace: str = DEFAULT_NAMESPACE,
    template_name: str = BACKTEST_TEMPLATE,
    service_account: str | None = DEFAULT_SERVICE_ACCOUNT,
) -> Batch:
    """A validated batch from command-line inputs; every problem is one ArgoError naming the
    option, file or field."""
    from trading_runtime.config import load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise ArgoError(str(exc)) from None
    if not _DNS_LABEL.fullmatch(namespace):
        raise ArgoError(f"--namespace {namespace!r}: not a Kubernetes namespace name")
    # Workflow names are the template name plus 6 characters; Argo keeps them within 63.
    if not _DNS_SUBDOMAIN.fullmatch(template_name):
        raise ArgoError(
            f"--template-name {template_name!r}: expected a lowercase name of at most 53"
            " characters (letters, digits, - and .)"
        )
    if parallelism < 1:
        raise ArgoError(f"--parallelism {parallelism}: must be at least 1")
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ArgoError(f"--timeout {timeout_s}: must be a positive number of seconds")
    sweep = load_sweep(sweep_path) if sweep_path is not None else None
    return Batch(
        image=image_reference(image, image_tag),
        config=config,
        parts=part_keys(parts, parts_dir),
        variants=plan_variants(config, sweep, str(config_path), str(sweep_path)),
        parts_url=object_store_url(parts_url, "--parts-url"),
        results_url=object_store_url(results_url, "--results-url"),
        parallelism=parallelism,
        timeout_s=timeout_s,
        namespace=namespace,
        template_name=template_name,
        service_account=service_account or None,
    )
