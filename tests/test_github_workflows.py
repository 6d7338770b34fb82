"""The GitHub workflows: valid against GitHub's workflow schema (offline), running the README's
commands, and never putting a secret on a command line. The deploy scripts run for real here
against a fake `microk8s` that records its arguments and its stdin."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from trading_runtime.pins import framework_pin

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
TESTS = WORKFLOWS / "tests.yaml"
DEPLOY = WORKFLOWS / "deploy.yaml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SHA = "89abcdef0123456789abcdef0123456789abcdef"
# What GitHub would substitute for each expression the deploy workflow uses.
FAKE_CONTEXT = {
    "secrets.GHCR_TOKEN": "ghp_FAKEtoken0123456789",
    "vars.GHCR_USERNAME || github.repository_owner": "trading-engineering",
    "secrets.OBJECT_STORE_ACCESS_KEY_ID": "AKIAFAKEKEY",
    "secrets.OBJECT_STORE_SECRET_ACCESS_KEY": "fake/secret+key",
    "vars.OBJECT_STORE_ENDPOINT_URL": "http://minio.minio.svc:9000",
    "github.sha": SHA,
    "github.ref_name": "main",
}
SECRET_VALUES = [value for key, value in FAKE_CONTEXT.items() if key.startswith("secrets.")]


def load(path: Path) -> dict[Any, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


def steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in load(path)["jobs"].values() for step in job["steps"]]


def step_named(path: Path, fragment: str) -> dict[str, Any]:
    (found,) = [step for step in steps(path) if fragment in step.get("name", "")]
    return found


def check_workflow_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    # check-jsonschema ships GitHub's workflow schema (vendor.github-workflows): no download.
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
        + [str(path) for path in paths],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_workflows_match_githubs_schema_offline() -> None:
    result = check_workflow_schema(TESTS, DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TESTS.read_text().replace("runs-on:", "runs_on:", 1))
    assert check_workflow_schema(broken).returncode == 1


def test_tests_workflow_runs_the_readme_commands_on_python_311() -> None:
    workflow = load(TESTS)
    assert {"push", "pull_request"} <= set(workflow["on"])
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    runs = [step.get("run", "").strip() for step in job["steps"]]
    assert "make test" in runs
    assert "make lint" in runs
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme  # the README's test command
    setup = next(step for step in job["steps"] if "setup-python" in step.get("uses", ""))
    assert str(setup["with"]["python-version"]) == "3.11"
    assert setup["with"]["cache"] == "pip"


def test_deploy_runs_on_the_cluster_runner_for_main() -> None:
    workflow = load(DEPLOY)
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in workflow["on"]
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "microk8s"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert any('microk8s kubectl apply -n "$NAMESPACE" -f argo/' in run for run in runs)
    assert workflow["env"]["NAMESPACE"] == "argo"


@pytest.mark.parametrize("path", [TESTS, DEPLOY], ids=lambda p: p.name)
def test_secrets_only_reach_steps_through_env(path: Path) -> None:
    references = [
        (where, value)
        for where, value in walk(load(path))
        if isinstance(value, str) and "secrets." in value
    ]
    for where, value in references:
        # .../env/NAME = "${{ secrets.X }}": a whole env value, nothing else.
        assert len(where) >= 2 and where[-2] == "env", f"{'.'.join(map(str, where))}: {value}"
        assert re.fullmatch(r"\$\{\{\s*secrets\.\w+\s*\}\}", value), value
    if path == DEPLOY:
        assert any(value.strip("${} ") == "secrets.GHCR_TOKEN" for _, value in references)
    for step in steps(path):
        # Neither `with:` inputs nor scripts name a secret, or expand the token variable.
        assert "secrets." not in json.dumps(step.get("with", {}))
        assert "secrets." not in step.get("run", "")
        assert not re.search(r"\$\{?GHCR_TOKEN", step.get("run", ""))


# ------------------------------------------------------------------- deploy, executed


FAKE_MICROK8S = """#!/usr/bin/env bash
# Records each call: arguments (one JSON line) and stdin; answers like a cluster would.
set -euo pipefail
n=$(ls "$LOG_DIR" | grep -c '^args-' || true)
printf '%s\\n' "$@" > "$LOG_DIR/args-$n"
if [[ " $* " == *" -f - "* ]]; then cat > "$LOG_DIR/stdin-$n"; fi
if [[ " $* " == *" create "* ]]; then echo "workflow.argoproj.io/trading-runtime-build-push-x1"; fi
if [[ " $* " == *"{.status.phase}"* ]]; then echo Succeeded; fi
"""


Calls = list[tuple[list[str], str | None]]


def execute_step(
    step: dict[str, Any], tmp_path: Path, context: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Calls]:
    """Run a deploy step's script as GitHub would (bash -eo pipefail), with its env."""
    log_dir = tmp_path / "log"
    bin_dir = tmp_path / "bin"
    log_dir.mkdir(exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "microk8s"
    fake.write_text(FAKE_MICROK8S)
    fake.chmod(0o755)

    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "LOG_DIR": str(log_dir)}
    env.update(load(DEPLOY).get("env", {}))
    for name, value in step.get("env", {}).items():
        env[name] = EXPRESSION.sub(lambda m: context[m.group(1)], str(value))
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    calls = []
    for args_file in sorted(log_dir.glob("args-*"), key=lambda p: int(p.name.split("-")[1])):
        stdin_file = log_dir / args_file.name.replace("args-", "stdin-")
        stdin = stdin_file.read_text() if stdin_file.exists() else None
        calls.append((args_file.read_text().splitlines(), stdin))
    return result, calls


def run_step(step: dict[str, Any], tmp_path: Path) -> Calls:
    result, calls = execute_step(step, tmp_path, FAKE_CONTEXT)
    assert result.returncode == 0, result.stdout + result.stderr
    for secret in SECRET_VALUES:
        assert secret not in result.stdout + result.stderr
    return calls


def assert_no_secret_in_arguments(calls: Calls) -> None:
    for args, _ in calls:
        for secret in SECRET_VALUES:
            assert all(secret not in arg for arg in args), args


def test_registry_secret_goes_to_kubectl_on_stdin(tmp_path: Path) -> None:
    calls = run_step(step_named(DEPLOY, "ghcr-secret"), tmp_path)
    assert_no_secret_in_arguments(calls)
    ((args, stdin),) = calls
    assert args[:2] == ["kubectl", "apply"]
    assert args[-2:] == ["-f", "-"]
    assert "--server-side" in args  # no last-applied annotation holding the token
    secret = json.loads(stdin or "")
    assert secret["metadata"]["name"] == "ghcr-secret"
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    auth = config["auths"]["ghcr.io"]
    token = FAKE_CONTEXT["secrets.GHCR_TOKEN"]
    assert base64.b64decode(auth["auth"]).decode() == f"trading-engineering:{token}"


def test_registry_secret_step_fails_without_the_token(tmp_path: Path) -> None:
    context = {**FAKE_CONTEXT, "secrets.GHCR_TOKEN": ""}
    result, calls = execute_step(step_named(DEPLOY, "ghcr-secret"), tmp_path, context)
    assert result.returncode != 0
    assert "GHCR_TOKEN is not set" in result.stderr
    # kubectl started (it reads stdin) but got no Secret to apply.
    assert all(not stdin for _, stdin in calls)


def test_object_store_secret_goes_to_kubectl_on_stdin(tmp_path: Path) -> None:
    calls = run_step(step_named(DEPLOY, "trading-runtime-object-store"), tmp_path)
    assert_no_secret_in_arguments(calls)
    ((args, stdin),) = calls
    assert args[-2:] == ["-f", "-"]
    secret = json.loads(stdin or "")
    assert secret["metadata"]["name"] == "trading-runtime-object-store"
    assert secret["stringData"] == {
        "AWS_ACCESS_KEY_ID": FAKE_CONTEXT["secrets.OBJECT_STORE_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": FAKE_CONTEXT["secrets.OBJECT_STORE_SECRET_ACCESS_KEY"],
        "AWS_ENDPOINT_URL": FAKE_CONTEXT["vars.OBJECT_STORE_ENDPOINT_URL"],
    }


def test_build_submits_the_build_template_with_the_pins(tmp_path: Path) -> None:
    calls = run_step(step_named(DEPLOY, "Build and push"), tmp_path)
    (create_args, stdin), (get_args, _) = calls
    assert create_args[:2] == ["kubectl", "create"]
    workflow = json.loads(stdin or "")
    assert workflow["kind"] == "Workflow"
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "trading-runtime-build-push"}
    parameters = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert parameters == {
        "runtime-sha": SHA,
        "framework-sha": framework_pin().commit,
        "branch": "main",
    }
    assert "workflow.argoproj.io/trading-runtime-build-push-x1" in get_args
    template = ROOT / "argo" / "workflowtemplate-build-push.yaml"
    if template.exists():  # the template declares every parameter the deploy passes
        spec = yaml.safe_load(template.read_text())
        assert spec["metadata"]["name"] == "trading-runtime-build-push"
        declared = {p["name"] for p in spec["spec"]["arguments"]["parameters"]}
        assert set(parameters) <= declared


def test_backtest_step_uses_the_cli_with_the_new_image() -> None:
    step = step_named(DEPLOY, "Backtest")
    script = " ".join(step["run"].replace("\\\n", " ").split())
    assert '.venv/bin/trading-runtime argo submit --image-tag "$IMAGE_TAG"' in script
    assert "--wait" in script
    assert step["env"]["IMAGE_TAG"] == "${{ github.sha }}"
    from trading_runtime.cli import main

    argo = main.commands["argo"]
    assert isinstance(argo, click.Group)
    options = {opt for param in argo.commands["submit"].params for opt in param.opts}
    used = set(re.findall(r"(--[a-z][a-z-]*)", script))
    assert used <= options
