"""Argo Workflows: the templates in argo/ validated offline (strict hera models in a subprocess,
references, the scripts they run), `trading-runtime argo render`, and `argo submit` against a
stand-in Argo server on loopback."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner, Result
from support.argo_strict import arguments_problems, semantic_problems, variables

from trading_runtime.argo import (
    ArgoError,
    Batch,
    bare_token,
    plan_variants,
    prepare_batch,
    server_url,
)
from trading_runtime.cli.argo import argo
from trading_runtime.config import example_config_path, load_config

ROOT = Path(__file__).resolve().parents[1]
ARGO_DIR = ROOT / "argo"
BACKTEST_YAML = ARGO_DIR / "workflowtemplate-backtest.yaml"
BUILD_YAML = ARGO_DIR / "workflowtemplate-build-push.yaml"
STRICT = Path(__file__).with_name("support") / "argo_strict.py"

SHA = "0123456789abcdef0123456789abcdef01234567"
FRAMEWORK_SHA = "fedcba9876543210fedcba9876543210fedcba98"
TOKEN = "s3cr3t-t0ken-value"
SWEEP = [{"strategy.quote_offset_ticks": 1}, {"strategy.quote_offset_ticks": 2}]
PARTS = ["p0002", "p0001", "p0003"]


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def template(document: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [t for t in document["spec"]["templates"] if t["name"] == name]
    return found


def render_args(tmp_path: Path, *extra: str, sweep: list[Any] | None = None) -> list[str]:
    args = ["render", "--image-tag", SHA, "--parts-url", "s3://bucket/parts/"]
    args += ["--results-url", "s3://bucket/results", "--config", str(example_config_path())]
    for part in PARTS:
        args += ["--parts", part]
    if sweep is not None:
        sweep_file = tmp_path / "sweep.json"
        sweep_file.write_text(json.dumps(sweep))
        args += ["--sweep", str(sweep_file)]
    return args + list(extra)


def invoke(args: list[str], **env: str | None) -> Result:
    base: dict[str, str | None] = {
        "ARGO_SERVER": None,
        "ARGO_TOKEN": None,
        "ARGO_NAMESPACE": None,
        "ARGO_SECURE": None,
        "ARGO_INSECURE_SKIP_VERIFY": None,
        "TRADING_RUNTIME_ENV": None,
        "TRADING_RUNTIME_RESULTS": None,
    }
    return CliRunner().invoke(argo, args, env={**base, **env}, catch_exceptions=False)


# --------------------------------------------------------------------------- strict validation


def with_known_mistakes(document: dict[str, Any]) -> dict[str, Any]:
    """The mistakes of an earlier template: Argo drops both silently, hera 7.1 accepts both."""
    broken = copy.deepcopy(document)
    template(broken, "main")["dag"]["tasks"][0]["parallelism"] = 4
    template(broken, "backtest")["podMetadata"] = {"labels": {"team": "research"}}
    template(broken, "aggregate")["container"]["resources"]["request"] = {"cpu": "1"}
    return broken


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp_path = tmp_path_factory.mktemp("render")
    result = invoke(render_args(tmp_path, sweep=SWEEP))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def strict_report(tmp_path_factory: pytest.TempPathFactory, rendered: str) -> dict[str, Any]:
    """One validator subprocess for every document (making hera strict takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("strict")
    files = {name: tmp_path / f"{name}.yaml" for name in ("mistakes", "snake", "workflow")}
    files["mistakes"].write_text(yaml.safe_dump(with_known_mistakes(load(BACKTEST_YAML))))
    snake = load(BUILD_YAML)
    snake["spec"]["pod_gc"] = snake["spec"].pop("podGC")  # Argo reads camelCase keys only
    files["snake"].write_text(yaml.safe_dump(snake))
    files["workflow"].write_text(rendered)
    templates = sorted(ARGO_DIR.glob("*.yaml"))
    completed = subprocess.run(
        [sys.executable, str(STRICT), "--json", *map(str, templates), *map(str, files.values())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report: dict[str, list[str]] = json.loads(completed.stdout or "{}")
    return {
        "returncode": completed.returncode,
        "stderr": completed.stderr,
        "templates": {Path(p).name: report[p] for p in map(str, templates)},
        **{name: report[str(path)] for name, path in files.items()},
    }


def test_every_template_in_argo_dir_is_a_valid_workflow_template(
    strict_report: dict[str, Any],
) -> None:
    assert set(strict_report["templates"]) == {BACKTEST_YAML.name, BUILD_YAML.name}
    for name, problems in strict_report["templates"].items():
        assert load(ARGO_DIR / name)["kind"] == "WorkflowTemplate"
        assert problems == [], name


def test_validator_rejects_fields_argo_would_drop(strict_report: dict[str, Any]) -> None:
    problems = "\n".join(strict_report["mistakes"])
    assert "spec.templates.0.dag.tasks.0.parallelism: Extra inputs are not permitted" in problems
    assert "spec.templates.1.podMetadata: Extra inputs are not permitted" in problems
    assert "container.resources.request: Extra inputs are not permitted" in problems
    assert len(strict_report["mistakes"]) == 3


def test_rendered_workflow_is_valid(strict_report: dict[str, Any]) -> None:
    assert strict_report["workflow"] == []


def test_validator_rejects_python_field_names(strict_report: dict[str, Any]) -> None:
    assert strict_report["snake"] == [
        "WorkflowTemplate/trading-runtime-build-push: spec.pod_gc: Extra inputs are not permitted"
    ]
    assert strict_report["returncode"] == 1, strict_report["stderr"]


# --------------------------------------------------------------------------- template semantics


@pytest.mark.parametrize("path", [BACKTEST_YAML, BUILD_YAML], ids=lambda p: p.name)
def test_references_resolve(path: Path) -> None:
    document = load(path)
    assert semantic_problems(document) == []
    # The checker sees what it should: the templates use both kinds of parameters.
    used = {variable.split(".")[0] for _, variable in variables(document)}
    assert {"inputs", "workflow"} <= used


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: template(d, "backtest")["container"]["args"].append(
                "{{inputs.parameters.nope}}"
            ),
            "{{inputs.parameters.nope}} is not an input of the template",
        ),
        (
            lambda d: template(d, "aggregate")["container"]["args"].append(
                "{{workflow.parameters.result-url}}"
            ),
            "{{workflow.parameters.result-url}} is not a workflow parameter",
        ),
        (
            lambda d: template(d, "main")["dag"]["tasks"][1].update(template="aggregat"),
            "no template named 'aggregat'",
        ),
        (
            lambda d: template(d, "main")["dag"]["tasks"][1].pop("withParam"),
            "{{item}} outside withParam/withItems",
        ),
        (
            lambda d: template(d, "main")["dag"]["tasks"][1].update(depends="backtests"),
            "depends on unknown task 'backtests'",
        ),
        (
            lambda d: template(d, "main")["dag"]["tasks"][0]["arguments"]["parameters"].pop(),
            "input 'overrides' of 'backtest' not given",
        ),
        (
            lambda d: template(d, "main").update(activeDeadlineSeconds=60),
            "templates.main.activeDeadlineSeconds: only valid on leaf templates",
        ),
        (
            lambda d: template(d, "backtest")["container"]["args"].append("{{workfow.name}}"),
            "unknown variable {{workfow.name}}",
        ),
    ],
)
def test_reference_checker_finds_mistakes(mutate: Any, expected: str) -> None:
    document = load(BACKTEST_YAML)
    mutate(document)
    assert any(expected in problem for problem in semantic_problems(document)), semantic_problems(
        document
    )


def test_task_output_references_are_checked() -> None:
    document = load(BUILD_YAML)
    task = template(document, "main")["dag"]["tasks"][1]
    task["arguments"]["parameters"][0]["value"] = "{{tasks.validate.outputs.parameters.tag}}"
    assert any("is not an output" in p for p in semantic_problems(document))
    task["arguments"]["parameters"][0]["value"] = "{{tasks.validate.outputs.parameters.tags}}"
    del task["depends"]
    assert any("without depending on it" in p for p in semantic_problems(document))


def test_backtest_container_runs_the_contract_entrypoint() -> None:
    container = template(load(BACKTEST_YAML), "backtest")["container"]
    assert container["command"] + container["args"] == [
        "trading-runtime",
        "backtest",
        "--config",
        "/work/config.json",
        "--overrides",
        "{{inputs.parameters.overrides}}",
        "--part",
        "{{workflow.parameters.parts-url}}/{{inputs.parameters.part}}.npz",
        "--out",
        "{{workflow.parameters.results-url}}/{{inputs.parameters.variant}}/backtest_results",
        "--workers",
        "1",
        "--timeout",
        "{{workflow.parameters.timeout-s}}",
    ]
    aggregate = template(load(BACKTEST_YAML), "aggregate")["container"]
    assert aggregate["command"] + aggregate["args"] == [
        "trading-runtime",
        "aggregate",
        "--results",
        "{{workflow.parameters.results-url}}/{{inputs.parameters.variant}}",
    ]


def test_the_batch_ends_with_the_leaderboard_over_every_variant() -> None:
    leaderboard = template(load(BACKTEST_YAML), "leaderboard")
    container = leaderboard["container"]
    assert container["command"] + container["args"] == [
        "trading-runtime",
        "leaderboard",
        "--config",
        "/work/config.json",
        "--sweep",
        "/work/sweep.json",
        "--results",
        "{{workflow.parameters.results-url}}",
    ]
    artifacts = {a["path"]: a["raw"]["data"] for a in leaderboard["inputs"]["artifacts"]}
    assert artifacts == {
        "/work/config.json": "{{workflow.parameters.config}}",
        "/work/sweep.json": "{{workflow.parameters.sweep}}",
    }


def test_backtest_config_arrives_as_a_raw_artifact() -> None:
    backtest = template(load(BACKTEST_YAML), "backtest")
    (artifact,) = backtest["inputs"]["artifacts"]
    assert artifact["path"] == "/work/config.json"
    assert artifact["raw"] == {"data": "{{workflow.parameters.config}}"}


def test_backtest_template_runs_safely_in_a_cluster() -> None:
    document = load(BACKTEST_YAML)
    spec = document["spec"]
    assert isinstance(spec["parallelism"], int)
    assert spec["podGC"]["strategy"] in {"OnPodSuccess", "OnPodCompletion", "OnWorkflowSuccess"}
    assert spec["ttlStrategy"]["secondsAfterSuccess"] > 0
    assert spec["ttlStrategy"]["secondsAfterFailure"] > 0
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["serviceAccountName"] == "argo-workflow"
    assert spec["imagePullSecrets"] == [{"name": "ghcr-secret"}]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert "volumes" not in spec and "volumeClaimTemplates" not in spec
    assert "hostPath" not in BACKTEST_YAML.read_text()
    dag = template(document, "main")["dag"]
    assert dag["failFast"] is False
    assert all("parallelism" not in task for task in dag["tasks"])
    tasks = {task["name"]: task for task in dag["tasks"]}
    assert tasks["backtest"]["withParam"] == "{{workflow.parameters.items}}"
    assert tasks["aggregate"]["depends"] == "backtest"
    assert (
        tasks["leaderboard"]["depends"] == "aggregate" and "withParam" not in tasks["leaderboard"]
    )
    for name in ("backtest", "aggregate", "leaderboard"):
        leaf = template(document, name)
        assert "podMetadata" not in leaf
        assert leaf["metadata"]["labels"]["app.kubernetes.io/component"] == name
        assert leaf["activeDeadlineSeconds"]
        retry = leaf["retryStrategy"]
        assert int(retry["limit"]) <= 3 and retry["backoff"]["duration"]
        assert retry["retryPolicy"] in {"Always", "OnFailure", "OnError"}
        container = leaf["container"]
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["limits"]["memory"]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"name": "TRADING_RUNTIME_ENV", "value": "k8s"} in container["env"]
        assert container["envFrom"] == [{"secretRef": {"name": "trading-runtime-object-store"}}]
        assert "volumeMounts" not in container


def test_build_template_pins_its_images_and_pushes_with_cache() -> None:
    document = load(BUILD_YAML)
    spec = document["spec"]
    assert spec["serviceAccountName"] and spec["podGC"] and spec["ttlStrategy"]
    assert spec["activeDeadlineSeconds"] > 0
    build = template(document, "build-push")
    images = [build["script"]["image"], *(c["image"] for c in build["initContainers"])]
    images.append(template(document, "validate")["script"]["image"])
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag[:1] == "v" and tag[1:2].isdigit(), image  # pinned, never :latest
    assert build["script"]["image"].startswith("ghcr.io/osscontainertools/kaniko:")
    assert build["initContainers"][0]["image"].startswith("alpine/git:")
    assert build["retryStrategy"]["limit"] and build["activeDeadlineSeconds"] > 0
    assert build["script"]["resources"]["requests"] and build["script"]["resources"]["limits"]
    (secret,) = [v for v in build["volumes"] if "secret" in v]
    assert secret["secret"] == {
        "secretName": "ghcr-secret",
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
    }
    mount = next(m for m in build["script"]["volumeMounts"] if m["name"] == secret["name"])
    assert mount["mountPath"] == "/kaniko/.docker"  # -> /kaniko/.docker/config.json
    # The SHA check runs first; the build only after it.
    tasks = {t["name"]: t for t in template(document, "main")["dag"]["tasks"]}
    assert "depends" not in tasks["validate"] and tasks["build-push"]["depends"] == "validate"


# --------------------------------------------------------------------------- the scripts


SHELLS = [shell for shell in ("sh", "bash") if shutil.which(shell)]


def run_validate(shell: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    source = template(load(BUILD_YAML), "validate")["script"]["source"]
    values = {"RUNTIME_SHA": SHA, "FRAMEWORK_SHA": FRAMEWORK_SHA, "BRANCH": "main", **env}
    return subprocess.run(
        [shell, "-c", source],
        env={"PATH": os.environ["PATH"], "OUTPUT_DIR": str(tmp_path), **values},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    ("branch", "tags"),
    [
        ("main", f"main {SHA} latest"),
        ("feature/faster-fills", f"feature-faster-fills {SHA}"),
        ("-odd", f"_odd {SHA}"),
    ],
)
def test_validate_step_accepts_full_shas_and_tags_by_branch(
    shell: str, branch: str, tags: str, tmp_path: Path
) -> None:
    completed = run_validate(shell, tmp_path, BRANCH=branch)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "tags").read_text() == tags


BAD_SHAS = [
    "",
    SHA[:7],
    SHA[:-1],
    SHA + "0",
    SHA.upper(),
    SHA[:-1] + "g",
    SHA[:-1] + " ",
    SHA + "\n" + SHA,
    "main",
    "$(touch pwned)" + SHA[:26],
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("bad", BAD_SHAS, ids=range(len(BAD_SHAS)))
@pytest.mark.parametrize(
    ("variable", "parameter"), [("RUNTIME_SHA", "runtime-sha"), ("FRAMEWORK_SHA", "framework-sha")]
)
def test_validate_step_rejects_anything_but_a_full_sha(
    shell: str, bad: str, variable: str, parameter: str, tmp_path: Path
) -> None:
    completed = run_validate(shell, tmp_path, **{variable: bad})
    assert completed.returncode == 1
    assert (
        f"error: {parameter} must be a full 40-character lowercase hex commit SHA"
        in completed.stderr
    )
    assert not (tmp_path / "tags").exists()
    assert not (tmp_path / "pwned").exists()


def test_validate_step_keeps_latest_for_main(tmp_path: Path) -> None:
    completed = run_validate("sh", tmp_path, BRANCH="latest")
    assert completed.returncode == 1
    assert "would overwrite the latest tag" in completed.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_clone_step_checks_out_exactly_the_sha(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(origin)], check=True)
    (origin / "Dockerfile").write_text("FROM scratch AS runtime\n")
    subprocess.run([*git, "-C", str(origin), "add", "."], check=True)
    subprocess.run([*git, "-C", str(origin), "commit", "-qm", "one"], check=True)
    first = subprocess.run(
        ["git", "-C", str(origin), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (origin / "Dockerfile").write_text("FROM scratch AS runtime\nLABEL x=2\n")
    subprocess.run([*git, "-C", str(origin), "commit", "-qam", "two"], check=True)

    (clone,) = template(load(BUILD_YAML), "build-push")["initContainers"]
    assert clone["command"] == ["sh", "-c"]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    env |= {"REPO_URL": f"file://{origin}", "RUNTIME_SHA": first, "SRC_DIR": str(tmp_path / "src")}
    completed = subprocess.run(
        ["sh", "-c", clone["args"][0]], env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "src" / "Dockerfile").read_text() == "FROM scratch AS runtime\n"
    head = subprocess.run(
        ["git", "-C", str(tmp_path / "src"), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    assert head.stdout.strip() == first


@pytest.mark.parametrize(("tags", "latest"), [(f"main {SHA} latest", True), (f"dev {SHA}", False)])
def test_kaniko_step_builds_the_runtime_target_and_pushes_each_tag(
    tags: str, latest: bool, tmp_path: Path
) -> None:
    source = template(load(BUILD_YAML), "build-push")["script"]["source"]
    fake = tmp_path / "executor"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    assert "exec /kaniko/executor" in source
    env = {
        "PATH": os.environ["PATH"],
        "IMAGE": "ghcr.io/o/r",
        "CACHE_REPO": "ghcr.io/o/r/cache",
        "RUNTIME_SHA": SHA,
        "FRAMEWORK_SHA": FRAMEWORK_SHA,
        "BRANCH": tags.split()[0],
        "TAGS": tags,
    }
    completed = subprocess.run(
        ["sh", "-c", source.replace("/kaniko/executor", str(fake))],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 0, completed.stderr
    args = completed.stdout.splitlines()
    assert "--target=runtime" in args
    assert f"--build-arg=TRADING_PLATFORM_COMMIT={FRAMEWORK_SHA}" in args
    assert f"--build-arg=GIT_COMMIT={SHA}" in args
    assert f"--build-arg=GIT_BRANCH={tags.split()[0]}" in args
    assert "--cache=true" in args and "--cache-repo=ghcr.io/o/r/cache" in args
    destinations = [a for a in args if a.startswith("--destination=")]
    expected = [f"--destination=ghcr.io/o/r:{tag}" for tag in tags.split()]
    assert destinations == expected
    assert ("--destination=ghcr.io/o/r:latest" in args) is latest


# --------------------------------------------------------------------------- render


def test_render_prints_a_workflow_of_the_backtest_template(rendered: str) -> None:
    workflow = yaml.safe_load(rendered)
    assert workflow["kind"] == "Workflow"
    assert workflow["metadata"]["generateName"] == "trading-runtime-backtest-"
    assert "name" not in workflow["metadata"]
    spec = workflow["spec"]
    assert spec["workflowTemplateRef"] == {"name": "trading-runtime-backtest"}
    assert spec["parallelism"] == 10
    assert arguments_problems(workflow, load(BACKTEST_YAML)) == []
    parameters = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    assert parameters["image"] == f"ghcr.io/trading-engineering/trading-runtime:{SHA}"
    assert parameters["parts-url"] == "s3://bucket/parts"
    # Render's defaults are the template's own.
    declared = load(BACKTEST_YAML)["spec"]["arguments"]["parameters"]
    defaults = {p["name"]: p["value"] for p in declared if "value" in p}
    assert defaults == {k: parameters[k] for k in ("timeout-s", "pod-deadline-s")}
    assert load_config_text(parameters["config"]) == load_config(example_config_path())
    items = json.loads(parameters["items"])
    variants = json.loads(parameters["variants"])
    assert len(items) == len(PARTS) * len(SWEEP)
    assert len(variants) == len(SWEEP) and variants == sorted(variants)
    assert items == sorted(items, key=lambda i: (i["variant"], i["part"]))
    assert {i["part"] for i in items} == set(PARTS)
    assert {i["variant"] for i in items} == set(variants)
    assert {i["overrides"] for i in items} == {json.dumps(s, separators=(",", ":")) for s in SWEEP}
    # The leaderboard's sweep file: every variant's overrides, in variant-id order.
    by_id = {i["variant"]: json.loads(i["overrides"]) for i in items}
    assert json.loads(parameters["sweep"]) == [by_id[v] for v in variants]
    # The fields the template's tasks read from an item are the ones render writes.
    main = template(load(BACKTEST_YAML), "main")
    task = main["dag"]["tasks"][0]
    fields = {v.removeprefix("item.") for _, v in variables(task) if v.startswith("item.")}
    assert fields == set(items[0])


def load_config_text(text: str) -> Any:
    from trading_runtime.config import parse_config

    return parse_config(json.loads(text))


def test_render_is_byte_stable(tmp_path: Path, rendered: str) -> None:
    again = invoke(render_args(tmp_path, sweep=SWEEP))
    assert again.exit_code == 0
    assert again.stdout == rendered
    # The same parts and sweep in another order: the same workflow.
    reordered = render_args(tmp_path, sweep=list(reversed(SWEEP)))
    assert invoke(reordered).stdout == rendered


def test_variant_ids_are_the_config_hash(tmp_path: Path) -> None:
    config = load_config(example_config_path())
    (base,) = plan_variants(config)
    assert base.id == config.config_hash()[:12] and base.overrides_json == "{}"
    result = invoke(render_args(tmp_path, "--parallelism", "3", "--timeout", "1200"))
    assert result.exit_code == 0, result.output
    workflow = yaml.safe_load(result.stdout)
    parameters = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert json.loads(parameters["variants"]) == [base.id]
    assert parameters["timeout-s"] == "1200"
    assert int(parameters["pod-deadline-s"]) > 1200
    assert workflow["spec"]["parallelism"] == 3
    assert f"variant {base.id}: overrides {{}} -> s3://bucket/results/{base.id}/" in result.stderr


def test_render_defaults_to_every_part_in_the_parts_dir(tmp_path: Path) -> None:
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    for name in ("b.npz", "a.npz", "notes.txt"):
        (parts_dir / name).write_bytes(b"")
    args = [a for a in render_args(tmp_path) if a not in PARTS and a != "--parts"]
    result = invoke(args, TRADING_RUNTIME_PARTS_DIR=str(parts_dir))
    assert result.exit_code == 0, result.output
    parameters = yaml.safe_load(result.stdout)["spec"]["arguments"]["parameters"]
    items = json.loads(next(p["value"] for p in parameters if p["name"] == "items"))
    assert [i["part"] for i in items] == ["a", "b"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(args, TRADING_RUNTIME_PARTS_DIR=str(empty))
    assert result.exit_code == 1 and "no part files (*.npz) in" in result.stderr


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ([{"engine.tick_sise": 0.5}], "engine.tick_sise: unknown key"),
        ([{"strategy.quote_ofset_ticks": 2}], "strategy.quote_ofset_ticks is not a parameter"),
        ([{"risk.notional_limits.max_gross": 1.0}], "risk.notional_limits.max_gross: unknown key"),
        ([{"engine.tick_size": -1}], "engine.tick_size: Input should be greater than 0"),
        ([{}, {}], "entries 0 and 1 give the same config"),
        ([], "expected a non-empty JSON list"),
        (["strategy.skew=1"], "entry 0 is str, expected an object"),
    ],
)
def test_render_rejects_a_bad_sweep_naming_the_key(
    sweep: list[Any], message: str, tmp_path: Path
) -> None:
    result = invoke(render_args(tmp_path, sweep=sweep))
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "ghcr.io/x/y"], "give a tag or digest"),
        (["--image", "ghcr.io/x/y@sha256:abc"], "the digest must be sha256:<64 hex>"),
        (["--image-tag", "v1", "--image", "ghcr.io/x/y:v1"], "give exactly one of --image"),
        (["--image-tag", "bad tag"], "not a valid image tag"),
        (["--parts-url", "data/parts"], "--parts-url 'data/parts': expected an object-store URL"),
        (["--namespace", "Bad_NS"], "not a Kubernetes namespace name"),
        (["--parts", "../etc"], "part key(s) '../etc'"),
    ],
)
def test_render_rejects_bad_options(args: list[str], message: str, tmp_path: Path) -> None:
    base = render_args(tmp_path)
    if "--image" in args:
        index = base.index("--image-tag")
        del base[index : index + 2]
    result = invoke([*base, *args])
    assert result.exit_code != 0
    assert message in result.stderr


def test_render_names_the_config_file_and_field(tmp_path: Path) -> None:
    config = json.loads(example_config_path().read_text())
    config["engine"]["tick_sise"] = config["engine"].pop("tick_size")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    result = invoke([*render_args(tmp_path), "--config", str(path)])
    assert result.exit_code == 1
    assert f"invalid backtest config {path}" in result.stderr
    assert "engine.tick_sise: unknown key" in result.stderr


def test_prepare_batch_matches_the_cli(tmp_path: Path) -> None:
    batch = prepare_batch(
        config_path=example_config_path(),
        parts=["p1.npz", "p0", "p1"],
        image_tag="v1",
        parts_url="s3://b/p",
        results_url="s3://b/r/",
    )
    assert isinstance(batch, Batch)
    assert batch.parts == ("p0", "p1")
    assert batch.results_url == "s3://b/r"
    assert [item["part"] for item in batch.items()] == ["p0", "p1"]


# --------------------------------------------------------------------------- submit


@dataclass
class FakeArgo:
    """What the stand-in server saw, and what it answers."""

    phases: list[str] = field(default_factory=lambda: ["Running", "Succeeded"])
    create_status: int = 200
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    name: str = "trading-runtime-backtest-x7k2p"
    created: dict[str, Any] = field(default_factory=dict)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                fake.requests.append(("POST", self.path, dict(self.headers), body))
                if fake.create_status != 200:
                    self._reply(fake.create_status, {"code": 16, "message": "denied"})
                    return
                created = copy.deepcopy(body["workflow"])
                created["metadata"]["name"] = fake.name
                created["metadata"].pop("generateName", None)
                fake.created = created
                self._reply(200, created)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, dict(self.headers), None))
                if self.path != f"/api/v1/workflows/argo-test/{fake.name}":
                    self._reply(404, {"code": 5, "message": "not found"})
                    return
                phase = fake.phases.pop(0) if len(fake.phases) > 1 else fake.phases[0]
                workflow = copy.deepcopy(fake.created)
                if phase:  # "": not yet seen by the controller, no status
                    workflow["status"] = {"phase": phase}
                if phase == "Failed":
                    workflow["status"]["message"] = "child 'backtest(1)' failed"
                self._reply(200, workflow)

        return Handler


@pytest.fixture
def fake_argo() -> Iterator[tuple[FakeArgo, str]]:
    fake = FakeArgo()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def submit(tmp_path: Path, host: str, *extra: str, token: str | None = TOKEN) -> Result:
    args = render_args(tmp_path, "--namespace", "argo-test", *extra, sweep=SWEEP)
    args[0] = "submit"
    return invoke([*args, "--poll-interval", "0.01"], ARGO_SERVER=host, ARGO_TOKEN=token)


def assert_token_hidden(result: Result) -> None:
    assert TOKEN not in result.stdout
    assert TOKEN not in result.stderr


def test_submit_creates_the_workflow_and_prints_its_link(
    fake_argo: tuple[FakeArgo, str], tmp_path: Path, rendered: str
) -> None:
    fake, host = fake_argo
    result = submit(tmp_path, host)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        fake.name,
        f"{host}/workflows/argo-test/{fake.name}",
    ]
    assert_token_hidden(result)
    ((method, path, headers, body),) = fake.requests
    assert (method, path) == ("POST", "/api/v1/workflows/argo-test")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    workflow = body["workflow"]
    assert workflow["spec"]["workflowTemplateRef"] == {"name": "trading-runtime-backtest"}
    assert workflow["metadata"]["namespace"] == "argo-test"
    parameters = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert len(json.loads(parameters["items"])) == len(PARTS) * len(SWEEP)
    # What is submitted is what render prints (namespace aside).
    expected = yaml.safe_load(rendered)
    assert parameters == {
        p["name"]: p["value"] for p in expected["spec"]["arguments"]["parameters"]
    }


def test_submit_accepts_a_token_with_its_bearer_prefix(
    fake_argo: tuple[FakeArgo, str], tmp_path: Path
) -> None:
    fake, host = fake_argo
    result = submit(tmp_path, host, token=f"Bearer {TOKEN}")
    assert result.exit_code == 0, result.output
    assert fake.requests[0][2]["Authorization"] == f"Bearer {TOKEN}"
    assert_token_hidden(result)


def test_submit_waits_until_succeeded(fake_argo: tuple[FakeArgo, str], tmp_path: Path) -> None:
    fake, host = fake_argo
    fake.phases = ["", "Running", "Running", "Succeeded"]
    result = submit(tmp_path, host, "--wait")
    assert result.exit_code == 0, result.output
    gets = [r for r in fake.requests if r[0] == "GET"]
    assert len(gets) == 4
    assert all(r[2]["Authorization"] == f"Bearer {TOKEN}" for r in gets)
    assert f"{fake.name}: Running" in result.stderr
    assert f"{fake.name}: Succeeded" in result.stderr
    assert "aggregate_metrics.parquet" in result.stdout
    assert_token_hidden(result)


def test_submit_wait_fails_when_the_workflow_fails(
    fake_argo: tuple[FakeArgo, str], tmp_path: Path
) -> None:
    fake, host = fake_argo
    fake.phases = ["Running", "Failed"]
    result = submit(tmp_path, host, "--wait")
    assert result.exit_code == 1
    assert f"workflow {fake.name} Failed: child 'backtest(1)' failed" in result.stderr
    assert_token_hidden(result)


def test_submit_wait_gives_up_after_its_timeout(
    fake_argo: tuple[FakeArgo, str], tmp_path: Path
) -> None:
    fake, host = fake_argo
    fake.phases = ["Running"]
    result = submit(tmp_path, host, "--wait", "--wait-timeout", "0.2")
    assert result.exit_code == 1
    assert f"workflow {fake.name} still Running after 0.2 s" in result.stderr


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "the token was not accepted"), (403, "may not do this"), (404, "not found")],
)
def test_submit_explains_http_errors_without_the_token(
    fake_argo: tuple[FakeArgo, str], tmp_path: Path, status: int, hint: str
) -> None:
    fake, host = fake_argo
    fake.create_status = status
    result = submit(tmp_path, host)
    assert result.exit_code == 1
    assert f"Argo server {host} answered HTTP {status}" in result.stderr
    assert "namespace argo-test" in result.stderr and hint in result.stderr
    assert_token_hidden(result)


def test_submit_explains_an_unreachable_server(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    result = invoke(
        ["submit", *render_args(tmp_path)[1:]],
        ARGO_SERVER=f"127.0.0.1:{port}",
        ARGO_SECURE="false",
        ARGO_TOKEN=TOKEN,
    )
    assert result.exit_code == 1
    assert f"cannot connect to Argo server http://127.0.0.1:{port}" in result.stderr
    assert_token_hidden(result)


def test_submit_needs_a_host(tmp_path: Path) -> None:
    result = invoke(["submit", *render_args(tmp_path)[1:]])
    assert result.exit_code == 2
    assert "--host" in result.stderr


@pytest.mark.parametrize(
    ("host", "secure", "expected"),
    [
        ("argo.example.com:2746", True, "https://argo.example.com:2746/"),
        ("localhost:2746", False, "http://localhost:2746/"),
        ("https://example.com/argo", True, "https://example.com/argo/"),  # base path kept
        ("http://127.0.0.1:2746/", True, "http://127.0.0.1:2746/"),
    ],
)
def test_server_url_takes_the_argo_cli_forms(host: str, secure: bool, expected: str) -> None:
    assert server_url(host, secure=secure) == expected


def test_server_url_and_token_forms() -> None:
    with pytest.raises(ArgoError, match="expected an http:// or https:// URL"):
        server_url("ftp://example.com")
    assert bare_token(f"Bearer {TOKEN}") == TOKEN
    assert bare_token(f"  bearer {TOKEN}\n") == TOKEN
    assert bare_token(TOKEN) == TOKEN
    assert bare_token("") is None and bare_token(None) is None


def test_cli_has_the_argo_commands() -> None:
    from trading_runtime.cli import main

    assert isinstance(main, click.Group)
    argo_group = main.commands["argo"]
    assert isinstance(argo_group, click.Group)
    assert {"render", "submit"} <= set(argo_group.commands)
