"""Pods run as a cluster would run them, in the built image, with buildah.

A pod here is what Kubernetes would start: the container's command and args exactly as the Job or
Workflow has them, its environment with secret and ConfigMap references resolved to the test's
values, the files its volumes would mount, and its user. ``run_pod`` starts a fresh container
from the image for each one (``buildah from``), runs the command with ``buildah run --isolation
chroot`` (the host's network, so servers on loopback are reachable) and removes the container.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Pod",
    "PodFailed",
    "argo_substitute",
    "pod_from_argo_template",
    "pod_from_job",
    "run_pod",
]

LOG = logging.getLogger("pods")
POD_TIMEOUT_S = 900


@dataclass(frozen=True)
class Pod:
    name: str
    argv: list[str]
    env: dict[str, str]
    # Container path -> content: ConfigMap volumes, Argo raw artifacts.
    files: dict[str, str] = field(default_factory=dict)
    user: str | None = None


class PodFailed(AssertionError):
    pass


# ------------------------------------------------------------------------ Kubernetes Jobs


def pod_from_job(
    name: str,
    manifest: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    config_maps: Mapping[str, Mapping[str, str]],
) -> Pod:
    """The pod of a Job manifest (as the API server receives it): command + args, env with
    ``secretKeyRef``/``envFrom`` resolved from ``secrets``, ConfigMap volumes as files."""
    spec = manifest["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    argv = [*container.get("command", []), *container.get("args", [])]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            env.update(secrets[source["secretRef"]["name"]])
        elif "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        else:
            raise AssertionError(f"{name}: envFrom source {source} is not handled here")
    for var in container.get("env", []):  # `env` wins over `envFrom`, as in Kubernetes
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            raise AssertionError(f"{name}: env var {var} is not handled here")
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    files: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" not in volume:
            raise AssertionError(f"{name}: volume {volume} is not handled here")
        data = config_maps[volume["configMap"]["name"]]
        if "subPath" in mount:
            files[mount["mountPath"]] = data[mount["subPath"]]
        else:
            for key, value in data.items():
                files[f"{mount['mountPath'].rstrip('/')}/{key}"] = value
    context = container.get("securityContext", {})
    user = str(context["runAsUser"]) if "runAsUser" in context else None
    return Pod(name=name, argv=argv, env=env, files=files, user=user)


# ----------------------------------------------------------------------- Argo templates

_TOKEN = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


def argo_substitute(text: str, values: Mapping[str, str]) -> str:
    """Argo's simple template tags: every ``{{name}}`` replaced; an unknown name fails, as
    Argo refuses to start a pod with an unresolved tag."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AssertionError(f"unresolved Argo tag {{{{{name}}}}} in {text!r}")
        return values[name]

    return _TOKEN.sub(replace, text)


def pod_from_argo_template(
    name: str,
    template: Mapping[str, Any],
    values: Mapping[str, str],
    secrets: Mapping[str, Mapping[str, str]],
    pod_user: str | None,
) -> Pod:
    """A container template's pod with ``values`` (workflow.parameters.*, inputs.parameters.*)
    substituted; raw input artifacts become files at their paths."""
    container = template["container"]
    argv = [argo_substitute(word, values) for word in [*container["command"], *container["args"]]]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(secrets[source["secretRef"]["name"]])
    for var in container.get("env", []):
        env[var["name"]] = argo_substitute(var["value"], values)
    files = {
        artifact["path"]: argo_substitute(artifact["raw"]["data"], values)
        for artifact in template.get("inputs", {}).get("artifacts", [])
    }
    return Pod(name=name, argv=argv, env=env, files=files, user=pod_user)


# ----------------------------------------------------------------------------- running


def _buildah(*args: str, timeout: float = 120) -> str:
    completed = subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if completed.returncode != 0:
        raise PodFailed(f"buildah {' '.join(args[:2])} failed: {completed.stderr.strip()}")
    return completed.stdout.strip()


def run_pod(image: str, pod: Pod, scratch: Path, timeout_s: float = POD_TIMEOUT_S) -> str:
    """Runs the pod's command in a fresh container of ``image``; its output, or PodFailed with
    the output's tail when the command exits non-zero."""
    files_dir = scratch / f"pod-files-{uuid.uuid4().hex[:8]}"
    mounts: list[str] = []
    for index, (path, content) in enumerate(sorted(pod.files.items())):
        files_dir.mkdir(parents=True, exist_ok=True)
        host = files_dir / f"{index}-{Path(path).name}"
        host.write_text(content)
        host.chmod(0o644)  # readable by the pod's non-root user, as a ConfigMap file is
        mounts += ["--volume", f"{host}:{path}:ro"]
    env = [arg for name, value in sorted(pod.env.items()) for arg in ("--env", f"{name}={value}")]
    user = ["--user", pod.user] if pod.user else []
    container = _buildah("from", "--pull=never", "--quiet", image)
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            [
                *("buildah", "run", "--isolation", "chroot", *user, *env, *mounts),
                *(container, "--", *pod.argv),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    finally:
        _buildah("rm", container)
    elapsed = time.perf_counter() - started
    output = completed.stdout + completed.stderr
    LOG.info(
        "pod %s: %s -> exit %d in %.1f s", pod.name, _shown(pod.argv), completed.returncode, elapsed
    )
    if completed.returncode != 0:
        raise PodFailed(
            f"pod {pod.name} ({_shown(pod.argv)}) exited {completed.returncode}:\n" + output[-6000:]
        )
    return output


def _shown(argv: Sequence[str]) -> str:
    """The command for the log: long JSON arguments (the serialized run) shortened."""
    words = [word if len(word) <= 80 else word[:60] + f"...({len(word)} chars)" for word in argv]
    return json.dumps(words)
