"""Batch backtests on Argo Workflows: the Workflow that runs the WorkflowTemplate
``argo/workflowtemplate-backtest.yaml`` over parts and config variants, and its submission.

Results layout (each variant is a complete results base, the layout Dagster uses):
``<results-url>/<variant>/backtest_results/<part>/`` and
``<results-url>/<variant>/aggregate_metrics.parquet``. A variant id is the first 12 hex digits of
the effective config's hash, so one directory only ever holds results of one config.

hera is imported inside the functions that need it, so ``trading-runtime --help`` stays fast.
"""

from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading_runtime.config import BacktestConfig, ConfigError, apply_overrides

if TYPE_CHECKING:
    from hera.workflows.models import Workflow

API_VERSION = "argoproj.io/v1alpha1"
BACKTEST_TEMPLATE = "trading-runtime-backtest"
DEFAULT_IMAGE_REPOSITORY = "ghcr.io/trading-engineering/trading-runtime"
DEFAULT_NAMESPACE = "argo"
DEFAULT_SERVICE_ACCOUNT = "argo-workflow"
DEFAULT_PARALLELISM = 10
DEFAULT_TIMEOUT_S = 900.0
# Around the backtest's own timeout a pod downloads the part, compiles the strategy (numba) and
# uploads the results; the pod's hard deadline (activeDeadlineSeconds) allows for that.
POD_DEADLINE_MARGIN_S = 900
VARIANT_ID_LENGTH = 12
TERMINAL_PHASES = ("Succeeded", "Failed", "Error")
DEFAULT_REQUEST_TIMEOUT_S = 30.0

# Docker's tag grammar; a part key becomes an object key and a pod argument.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PART_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*")
PART_SUFFIX = ".npz"


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


# --------------------------------------------------------------------------- inputs


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
    keys = {part.strip().removesuffix(PART_SUFFIX) for part in parts}
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
    from trading_runtime.engines.base import EngineError
    from trading_runtime.engines.hftbacktest_engine import HftbacktestAdapter, strategy_arguments

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


# --------------------------------------------------------------------------- the Workflow


def build_workflow(batch: Batch) -> Workflow:
    """The Workflow that runs the backtest WorkflowTemplate with this batch's arguments."""
    from hera.workflows.models import (
        Arguments,
        ObjectMeta,
        Parameter,
        Workflow,
        WorkflowSpec,
        WorkflowTemplateRef,
    )

    labels = {
        "app.kubernetes.io/name": "trading-runtime",
        "app.kubernetes.io/component": "backtest",
    }
    return Workflow(
        api_version=API_VERSION,
        kind="Workflow",
        metadata=ObjectMeta(
            generate_name=f"{batch.template_name}-",
            namespace=batch.namespace,
            labels=labels,
        ),
        spec=WorkflowSpec(
            workflow_template_ref=WorkflowTemplateRef(name=batch.template_name),
            arguments=Arguments(
                parameters=[
                    Parameter(name=name, value=value) for name, value in batch.parameters().items()
                ]
            ),
            # Workflow-level: the only place Argo honours a fan-out limit for a DAG.
            parallelism=batch.parallelism,
            service_account_name=batch.service_account,
        ),
    )


def workflow_document(workflow: Workflow) -> dict[str, Any]:
    document: dict[str, Any] = workflow.model_dump(mode="json", by_alias=True, exclude_none=True)
    return document


def render_yaml(batch: Batch) -> str:
    """The Workflow as YAML: same batch, same bytes."""
    import yaml

    return str(
        yaml.safe_dump(
            workflow_document(build_workflow(batch)),
            sort_keys=False,
            default_flow_style=False,
            width=1_000_000,  # one line per value: long JSON parameters are not folded
        )
    )


# --------------------------------------------------------------------------- the Argo server


def server_url(host: str, secure: bool = True) -> str:
    """The Argo server's base URL, with a trailing slash (hera joins API paths onto it). Accepts
    the argo CLI's ARGO_SERVER form ``host:port`` (https unless ``secure`` is false)."""
    host = host.strip()
    if not host:
        raise ArgoError("no Argo server: pass --host or set ARGO_SERVER")
    if "://" not in host:
        host = f"{'https' if secure else 'http'}://{host}"
    if not host.startswith(("http://", "https://")):
        raise ArgoError(f"Argo server {host!r}: expected an http:// or https:// URL")
    return host.rstrip("/") + "/"


def bare_token(token: str | None) -> str | None:
    """The token without a ``Bearer`` prefix (``argo auth token`` prints it with one)."""
    if token is None:
        return None
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token or None


def workflow_link(host: str, namespace: str, name: str) -> str:
    return f"{host.rstrip('/')}/workflows/{namespace}/{name}"


_HTTP_HINTS = {
    400: "the server rejected the workflow",
    401: "the token was not accepted (set ARGO_TOKEN, e.g. from `argo auth token`)",
    403: "the token's service account may not do this in that namespace",
    404: "not found (is the host the Argo server's URL, and the namespace right?)",
    409: "a workflow of that name exists already",
}


@dataclass
class ArgoClient:
    """A small client over hera's WorkflowsService: timeouts on every request, and errors that
    name the server and the HTTP status but never the token."""

    host: str
    namespace: str = DEFAULT_NAMESPACE
    token: str | None = None
    verify_ssl: bool = True
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    def __post_init__(self) -> None:
        self.host = server_url(self.host)
        self.token = bare_token(self.token)

    def _service(self) -> Any:
        import requests
        from hera.workflows.service import WorkflowsService

        timeout = self.request_timeout_s

        class _TimeoutSession(requests.Session):
            # hera sets no timeout: a silent server would hang the command for ever.
            def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("timeout", timeout)
                return super().request(method, url, *args, **kwargs)

        return WorkflowsService(
            host=self.host,
            token=self.token,
            namespace=self.namespace,
            verify_ssl=self.verify_ssl,
            session=_TimeoutSession(),
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    def _call(self, action: str, function: Callable[[Any], Any]) -> Any:
        import requests
        from hera.exceptions import HeraException
        from pydantic import ValidationError

        where = f"Argo server {self.host.rstrip('/')}"
        service = self._service()
        try:
            with warnings.catch_warnings():
                # hera 7.1 serialises requests with pydantic's deprecated .json(): not ours to fix.
                warnings.simplefilter("ignore", DeprecationWarning)
                return function(service)
        except ValidationError as exc:
            raise ArgoError(
                f"{where} answered {action} with an unexpected document"
                f" ({exc.error_count()} problem(s), first: {exc.errors()[0]['loc']})"
            ) from None
        except HeraException as exc:
            message = self._scrub(str(exc))
            status = getattr(exc, "status_code", None)
            if status is None:
                found = re.search(r"status code (\d{3})", message)
                status = int(found.group(1)) if found else None
            hint = _HTTP_HINTS.get(status or 0, "request failed")
            raise ArgoError(
                f"{where} answered HTTP {status} to {action} in namespace {self.namespace}:"
                f" {hint}. {message}"
            ) from None
        except requests.exceptions.SSLError as exc:
            raise ArgoUnreachableError(
                f"{where}: TLS failed ({self._scrub(str(exc))}); for a self-signed certificate"
                " pass --insecure"
            ) from None
        except requests.exceptions.Timeout:
            raise ArgoUnreachableError(
                f"{where} did not answer within {self.request_timeout_s:g} s ({action})"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise ArgoUnreachableError(
                f"cannot connect to {where} ({type(exc).__name__})"
            ) from None
        finally:
            service.close()

    def create(self, workflow: Workflow) -> str:
        """Create the workflow; its generated name."""
        from hera.workflows.models import WorkflowCreateRequest

        created = self._call(
            "create a workflow",
            lambda service: service.create_workflow(
                WorkflowCreateRequest(workflow=workflow), namespace=self.namespace
            ),
        )
        name = created.metadata.name if created.metadata is not None else None
        if not name:
            raise ArgoError(f"Argo server {self.host.rstrip('/')} created a workflow without name")
        return str(name)

    def status(self, name: str) -> tuple[str, str]:
        """(phase, message) of a workflow; phase "" before the controller has seen it."""
        workflow = self._call(
            f"read workflow {name}",
            lambda service: service.get_workflow(name, namespace=self.namespace),
        )
        status = workflow.status
        if status is None:
            return "", ""
        return status.phase or "", status.message or ""

    def wait(
        self,
        name: str,
        timeout_s: float,
        poll_interval_s: float,
        on_phase: Callable[[str, str], None] | None = None,
        transient_errors: int = 3,
    ) -> tuple[str, str]:
        """Poll until the workflow ends (Succeeded, Failed or Error); ArgoError past the
        timeout. A few consecutive failures to reach the server are tolerated; an HTTP error
        (401, 404, ...) is not."""
        deadline = time.monotonic() + timeout_s
        last = None
        failures = 0
        while True:
            try:
                phase, message = self.status(name)
                failures = 0
            except ArgoUnreachableError:
                failures += 1
                if failures > transient_errors:
                    raise
                phase, message = last or ("", "")
            if (phase, message) != last and on_phase is not None:
                on_phase(phase, message)
            last = (phase, message)
            if phase in TERMINAL_PHASES:
                return phase, message
            if time.monotonic() + poll_interval_s > deadline:
                raise ArgoError(
                    f"workflow {name} still {phase or 'pending'} after {timeout_s:g} s;"
                    f" follow it with `argo -n {self.namespace} watch {name}`"
                )
            time.sleep(poll_interval_s)
