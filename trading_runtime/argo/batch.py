"""A batch of backtests for Argo Workflows: parts x config variants, validated from command-line
inputs. See ``workflow`` for the Workflow it becomes and ``client`` for its submission.

Results layout (each variant is a complete results base, the layout Dagster uses):
``<results-url>/<variant>/backtest_results/<part>/`` and
``<results-url>/<variant>/aggregate_metrics.parquet``. A variant id is the first 12 hex digits of
the effective config's hash, so one directory only ever holds results of one config.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from trading_runtime.argo.errors import ArgoError, ArgoUnreachableError
from trading_runtime.argo.sweep import Variant, compact_json, load_sweep, plan_variants
from trading_runtime.config import BacktestConfig, ConfigError
from trading_runtime.layout import DEFAULT_TIMEOUT_S, PART_KEY_RULE, PART_SUFFIX, part_key_problem

__all__ = [
    "BACKTEST_TEMPLATE",
    "DEFAULT_IMAGE_REPOSITORY",
    "DEFAULT_NAMESPACE",
    "DEFAULT_PARALLELISM",
    "DEFAULT_SERVICE_ACCOUNT",
    "ArgoError",
    "ArgoUnreachableError",
    "Batch",
    "image_reference",
    "object_store_url",
    "part_keys",
    "prepare_batch",
]

BACKTEST_TEMPLATE = "trading-runtime-backtest"
DEFAULT_IMAGE_REPOSITORY = "ghcr.io/trading-engineering/trading-runtime"
DEFAULT_NAMESPACE = "argo"
DEFAULT_SERVICE_ACCOUNT = "argo-workflow"
DEFAULT_PARALLELISM = 10
# Around the backtest's own timeout a pod downloads the part, compiles the strategy (numba) and
# uploads the results; the pod's hard deadline (activeDeadlineSeconds) allows for that.
POD_DEADLINE_MARGIN_S = 900

# Docker's tag grammar.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


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
        return compact_json(self.config.model_dump(mode="json"))

    def parameters(self) -> dict[str, str]:
        """The WorkflowTemplate's parameters, in its declaration order."""
        return {
            "image": self.image,
            "config": self.config_json(),
            "parts-url": self.parts_url,
            "results-url": self.results_url,
            "items": compact_json(self.items()),
            "variants": compact_json(sorted(v.id for v in self.variants)),
            # The variants' overrides (by id, as items and variants: the same batch renders the
            # same bytes whatever the sweep file's order); the leaderboard plans the same ids.
            "sweep": compact_json(
                [dict(v.overrides) for v in sorted(self.variants, key=lambda v: v.id)]
            ),
            "timeout-s": _number(self.timeout_s),
            "pod-deadline-s": str(math.ceil(self.timeout_s) + POD_DEADLINE_MARGIN_S),
        }


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
    part file in ``parts_dir``. Every key is a valid part name (``layout.PART_KEY_RULE``): it
    becomes an object key and a pod argument."""
    keys = {part.strip().removesuffix(PART_SUFFIX) for part in parts}  # keys, not paths
    if not keys:
        if parts_dir is None:
            raise ArgoError("no parts given (--parts) and no parts directory")
        from trading_runtime.data.parts_store import scan_parts

        listing = scan_parts(parts_dir)
        if listing.refused:
            refused = "; ".join(f"{name}: {problem}" for name, problem in listing.refused.items())
            raise ArgoError(
                f"part file(s) in {parts_dir} with refused names ({refused}); a part name has"
                f" {PART_KEY_RULE}. Rename them, or pass --parts KEY"
            )
        keys = set(listing.keys)
        if not keys:
            raise ArgoError(f"no part files (*{PART_SUFFIX}) in {parts_dir}; pass --parts KEY")
    problems = {key: part_key_problem(key) for key in keys}
    bad = sorted(key for key, problem in problems.items() if problem is not None)
    if bad:
        raise ArgoError(
            f"part key(s) {', '.join(f'{key!r} ({problems[key]})' for key in bad)}: expected a"
            f" part file's name without .npz, such as p0001 (a part name has {PART_KEY_RULE})"
        )
    return tuple(sorted(keys))


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
