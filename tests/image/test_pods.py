"""The cluster's pods executed in the built runtime image (issue 12), not part of `make test`:

    scripts/build-image.sh --no-framework          # prints the image name
    TRADING_RUNTIME_TEST_IMAGE=<image> TRADING_RUNTIME_TEST_POSTGRES_URL=... \
      pytest tests/image -o log_cli=true --log-cli-level=INFO

Each pod's command, args and environment come from what the cluster would create: the Job that
dagster-k8s's K8sRunLauncher builds for a real run (tests/test_k8s.py's construction), the step
Job that k8s_job_executor builds, and the rendered Argo Workflow's templates with their parameters
substituted. Secrets resolve to test values; PostgreSQL (the Dagster instance) and an S3 server
(moto) listen on loopback. Every stored result is compared with a local Dagster run of the same
parts and config on this machine: the same content hashes over the canonical form, and the same
aggregate table, byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, instance_for_test
from dagster._core.execution.plan.outputs import StepOutputHandle
from dagster._core.execution.plan.state import KnownExecutionState
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job, get_k8s_job_name, get_user_defined_k8s_config
from moto.server import ThreadedMotoServer
from sqlalchemy.engine import make_url
from support.dagster_runs import run_backtest_range
from support.pods import (
    Pod,
    PodFailed,
    argo_substitute,
    pod_from_argo_template,
    pod_from_job,
    run_pod,
)
from test_k8s import (
    kubeconfig,  # noqa: F401 (fixture)
    make_launcher,
    plain_launcher_config,
    to_manifest,
)
from upath import UPath

from trading_runtime.argo import build_workflow, prepare_batch, workflow_document
from trading_runtime.config import apply_overrides, example_config_path, load_config
from trading_runtime.defs import build_definitions
from trading_runtime.defs.dagster_compat import (
    ExecuteStepArgs,
    JobPythonOrigin,
    LaunchRunContext,
    ModuleCodePointer,
    RepositoryPythonOrigin,
    create_execution_plan,
    partition_range_tags,
)
from trading_runtime.pins import framework_pin
from trading_runtime.results import BacktestResult
from trading_runtime.runs.instance import register_parts
from trading_runtime.runs.launch import run_aggregate
from trading_runtime.settings import RuntimeSettings, load_settings

pytestmark = pytest.mark.slow  # the built image, servers on loopback

ROOT = Path(__file__).resolve().parents[2]
IMAGE_ENV = "TRADING_RUNTIME_TEST_IMAGE"
SAMPLE_PARTS = ["part-00000", "part-00001"]
# Their backtest_results partitions for the configured backtest (variant base), and the range.
BASE_KEYS = [f"{part}|base" for part in SAMPLE_PARTS]
BASE_RANGE = (BASE_KEYS[0], BASE_KEYS[-1])
PG_SECRET = "dagster-postgresql-secret"
OBJECT_STORE_SECRET = "trading-runtime-object-store"
INSTANCE_CONFIG_MAP = "dagster-instance"
# A second sweep variant besides the base config (empty overrides).
SWEEP = [{}, {"strategy.quote_offset_ticks": 2}]


@dataclass(frozen=True)
class Cluster:
    """What the pods reach on loopback, and the secrets a cluster would hold."""

    image: str
    s3_env: dict[str, str]
    database_url: str
    bucket: str

    @property
    def secrets(self) -> dict[str, dict[str, str]]:
        password = make_url(self.database_url).password or ""
        return {
            PG_SECRET: {"postgresql-password": password},
            OBJECT_STORE_SECRET: self.s3_env,
        }


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def image() -> str:
    name = os.environ[IMAGE_ENV]
    found = subprocess.run(
        ["buildah", "inspect", "--type", "image", name], capture_output=True, check=False
    )
    if found.returncode != 0:
        pytest.fail(f"{IMAGE_ENV}={name}: no such image in buildah's storage (make image)")
    return name


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """moto's S3 server on 127.0.0.1; its credentials are the object-store secret's values."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    patch = pytest.MonkeyPatch()
    for name, value in values.items():
        patch.setenv(name, value)
    fsspec.config.conf.pop("s3", None)
    try:
        yield values
    finally:
        patch.undo()
        server.stop()


@pytest.fixture
def cluster(
    image: str,
    s3_env: dict[str, str],
    database_url: str,
) -> Iterator[Cluster]:
    """The bucket the k8s settings name (k8s/dagster.yaml), emptied, with the sample parts."""
    settings = load_settings(_launcher_env_vars())
    bucket = settings.parts_dir.removeprefix("s3://").split("/", 1)[0]
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if fs.exists(bucket):
        fs.rm(bucket, recursive=True)
    fs.mkdir(bucket)
    for key in SAMPLE_PARTS:
        fs.put_file(str(ROOT / "data" / "parts" / f"{key}.npz"), f"{settings.parts_dir}/{key}.npz")
    yield Cluster(image=image, s3_env=s3_env, database_url=database_url, bucket=bucket)


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The local path on this machine: the main job's Dagster runs (backfill + aggregate) over
    the same two parts, once per sweep variant config. Results base per variant's config hash."""
    base = tmp_path_factory.mktemp("local")
    parts = base / "parts"
    parts.mkdir()
    for key in SAMPLE_PARTS:
        shutil.copy(ROOT / "data" / "parts" / f"{key}.npz", parts / f"{key}.npz")
    config = load_config(example_config_path("hftbacktest"))
    bases: dict[str, Path] = {}
    for overrides in SWEEP:
        variant = apply_overrides(config, overrides) if overrides else config
        config_file = base / f"config-{variant.config_hash()}.json"
        config_file.write_text(json.dumps(variant.model_dump(mode="json")))
        results = base / f"results-{variant.config_hash()}"
        settings = RuntimeSettings(
            env="local",
            parts_dir=str(parts),
            results=str(results),
            config=str(config_file),
            workers=2,
        )
        with instance_for_test() as instance:
            defs = build_definitions(settings)
            register_parts(instance, SAMPLE_PARTS)
            run = run_backtest_range(defs, instance, SAMPLE_PARTS)
            assert run.success
            assert run_aggregate(defs.resolve_job_def("aggregate"), instance).success
        bases[variant.config_hash()] = results
    return bases


# ------------------------------------------------------------------------------ helpers


def _launcher_env_vars() -> dict[str, str]:
    raw = yaml.safe_load((ROOT / "k8s" / "dagster.yaml").read_text())
    return dict(var.split("=", 1) for var in raw["run_launcher"]["config"]["env_vars"])


def _instance_yaml(url_text: str) -> str:
    """k8s/dagster.yaml (the instance ConfigMap), its database pointed at the test server."""
    document = yaml.safe_load((ROOT / "k8s" / "dagster.yaml").read_text())
    url = make_url(url_text)
    document["storage"]["postgres"]["postgres_db"].update(
        hostname=url.host, port=url.port, username=url.username, db_name=url.database
    )
    document["telemetry"] = {"enabled": False}
    return yaml.safe_dump(document)


def _origin(image: str, job_name: str = "backtest_parts") -> JobPythonOrigin:
    """What the code server in the image (`dagster api grpc -m trading_runtime.definitions`)
    reports for backtest_parts and aggregate."""
    return JobPythonOrigin(
        job_name=job_name,
        repository_origin=RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer(
                module="trading_runtime.definitions", fn_name="defs", working_directory="/app"
            ),
            container_image=image,
            entry_point=["dagster"],
        ),
    )


@pytest.fixture
def k8s_instance(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DagsterInstance, str]]:
    """The daemon's side: the instance from the ConfigMap's dagster.yaml (PostgreSQL), with
    the environment the daemon pod has (password, image)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance_yaml = _instance_yaml(cluster.database_url)
    (home / "dagster.yaml").write_text(instance_yaml)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", cluster.secrets[PG_SECRET]["postgresql-password"])
    monkeypatch.setenv("TRADING_RUNTIME_IMAGE", cluster.image)
    instance = DagsterInstance.from_config(str(home))
    try:
        yield instance, instance_yaml
    finally:
        instance.dispose()


def _run_events(instance: DagsterInstance, run_id: str) -> list[Any]:
    return list(instance.all_logs(run_id))


def _errors(instance: DagsterInstance, run_id: str) -> str:
    """The run's error events, for a failed pod's report (the run worker logs to the instance)."""
    lines = []
    for entry in _run_events(instance, run_id):
        event = entry.dagster_event
        if entry.level >= logging.ERROR or (event is not None and event.is_failure):
            lines.append(f"{entry.step_key or 'run'}: {entry.message}")
            error = getattr(event.event_specific_data, "error", None) if event else None
            if error is not None:
                lines.append(error.to_string())
    return "\n".join(lines) or "no error events in the instance"


def _event_types(instance: DagsterInstance, run_id: str) -> list[DagsterEventType]:
    return [
        entry.dagster_event.event_type
        for entry in _run_events(instance, run_id)
        if entry.dagster_event is not None
    ]


def _materialized_partitions(instance: DagsterInstance, run_id: str, asset: str) -> list[str]:
    found = []
    for entry in _run_events(instance, run_id):
        event = entry.dagster_event
        if event is not None and event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key.to_user_string() == asset:
                found.append(str(materialization.partition))
    return sorted(found)


def assert_same_results(stored: str, local: Path) -> None:
    """Stored results (the image's pods) equal the local path's: per part the content hash over
    the canonical form and the canonical file hashes; the aggregate table byte for byte."""
    for key in SAMPLE_PARTS:
        remote = BacktestResult.load(UPath(f"{stored}/backtest_results/{key}"))
        remote.verify()
        reference = BacktestResult.load(local / "backtest_results" / key)
        assert remote.content_hash == reference.content_hash, key
        assert remote.provenance["canonical_files"] == reference.provenance["canonical_files"]
        assert remote.metrics == reference.metrics, key
    aggregate = UPath(f"{stored}/aggregate_metrics.parquet").read_bytes()
    assert aggregate == (local / "aggregate_metrics.parquet").read_bytes()


def _base_hash() -> str:
    return load_config(example_config_path("hftbacktest")).config_hash()


# ------------------------------------------------------------------ item 2: run pods


def test_run_launcher_pods_backtest_two_partitions_and_aggregate(
    cluster: Cluster,
    k8s_instance: tuple[DagsterInstance, str],
    kubeconfig: Path,  # noqa: F811 (the imported fixture)
    local_reference: dict[str, Path],
    tmp_path: Path,
) -> None:
    instance, instance_yaml = k8s_instance
    launcher, batch_api = make_launcher(plain_launcher_config(), kubeconfig, instance)
    settings = load_settings(_launcher_env_vars())
    defs = build_definitions(settings)
    register_parts(instance, SAMPLE_PARTS)  # what the sensors do: the parts and variant base

    backtest = defs.resolve_job_def("backtest_parts")
    aggregate = defs.resolve_job_def("aggregate")
    runs = [
        instance.create_run_for_job(
            job_def=backtest,
            tags={**backtest.run_tags, **partition_range_tags(*BASE_RANGE)},
            job_code_origin=_origin(cluster.image),
        ),
        instance.create_run_for_job(
            job_def=aggregate,
            tags=dict(aggregate.run_tags),
            job_code_origin=_origin(cluster.image, "aggregate"),
        ),
    ]
    for run in runs:  # one after the other, as the aggregate needs the stored results
        launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        body, _namespace = batch_api.created[-1]
        pod = pod_from_job(
            f"run-{run.job_name}",
            to_manifest(body),
            cluster.secrets,
            {INSTANCE_CONFIG_MAP: {"dagster.yaml": instance_yaml}},
        )
        assert pod.argv[:3] == ["dagster", "api", "execute_run"]
        try:
            run_pod(cluster.image, pod, tmp_path)
        except PodFailed as exc:
            raise PodFailed(f"{exc}\n{_errors(instance, run.run_id)}") from None
        stored = instance.get_run_by_id(run.run_id)
        assert stored is not None
        assert stored.status == DagsterRunStatus.SUCCESS, stored.status
        events = _event_types(instance, run.run_id)
        assert DagsterEventType.RUN_START in events
        assert DagsterEventType.RUN_SUCCESS in events
        assert DagsterEventType.RUN_FAILURE not in events

    assert _materialized_partitions(instance, runs[0].run_id, "backtest_results") == BASE_KEYS
    assert _materialized_partitions(instance, runs[1].run_id, "aggregate_metrics") == ["None"]
    assert_same_results(settings.results, local_reference[_base_hash()])


# -------------------------------------------------------- item 2: k8s_job_executor pods


def _run_step_pods(
    cluster: Cluster,
    instance: DagsterInstance,
    instance_yaml: str,
    launcher: Any,
    job: Any,
    tags: Mapping[str, str],
    scratch: Path,
) -> str:
    """A run of ``job`` whose steps each run in their own pod, in plan order, built as
    k8s_job_executor's step handler builds them (dagster_k8s.executor.K8sStepHandler.launch_step:
    container context from the run launcher without the run's tags plus the step's
    dagster-k8s/config, `execute_step` args and env). The run worker that would create these
    Jobs through the API and poll them needs a cluster; here the steps run one after another."""
    run = instance.create_run_for_job(
        job_def=job, tags=dict(tags), job_code_origin=_origin(cluster.image, job.name)
    )
    origin = run.job_code_origin
    assert origin is not None
    plan = create_execution_plan(job, tags=dict(tags), instance_ref=instance.get_ref())
    step_keys = [step.key for step in plan.get_steps_to_execute_in_topo_order()]
    base_context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)
    # What the executor hands each step: retries so far (none) and the outputs that are ready.
    ready: set[StepOutputHandle] = set()
    for step_key in step_keys:
        user_defined = get_user_defined_k8s_config(plan.get_step_by_key(step_key).tags)
        context = base_context.merge(K8sContainerContext(run_k8s_config=user_defined))
        step_args = ExecuteStepArgs(
            job_origin=origin,
            run_id=run.run_id,
            step_keys_to_execute=[step_key],
            instance_ref=instance.get_ref(),
            should_verify_step=True,
            print_serialized_events=True,
            known_state=KnownExecutionState(ready_outputs=set(ready)),
        )
        job_name = f"dagster-step-{get_k8s_job_name(run.run_id, step_key)}"
        manifest = to_manifest(
            construct_dagster_k8s_job(
                job_config=context.get_k8s_job_config(
                    job_image=cluster.image, run_launcher=launcher
                ),
                args=step_args.get_command_args(skip_serialized_namedtuple=True),
                job_name=job_name,
                pod_name=job_name,
                component="step_worker",
                user_defined_k8s_config=context.run_k8s_config,
                labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
                env_vars=[
                    *step_args.get_command_env(),
                    {"name": "DAGSTER_RUN_JOB_NAME", "value": run.job_name},
                    {"name": "DAGSTER_RUN_STEP_KEY", "value": step_key},
                ],
            )
        )
        pod = pod_from_job(
            f"step-{job.name}.{step_key}",
            manifest,
            cluster.secrets,
            {INSTANCE_CONFIG_MAP: {"dagster.yaml": instance_yaml}},
        )
        assert pod.argv == ["dagster", "api", "execute_step"]
        try:
            run_pod(cluster.image, pod, scratch)
        except PodFailed as exc:
            raise PodFailed(f"{exc}\n{_errors(instance, run.run_id)}") from None
        ready |= {
            StepOutputHandle(step_key, output.name)
            for output in plan.get_step_by_key(step_key).step_outputs
        }
    successes = [
        entry.dagster_event.step_key
        for entry in _run_events(instance, run.run_id)
        if entry.dagster_event is not None
        and entry.dagster_event.event_type == DagsterEventType.STEP_SUCCESS
    ]
    assert sorted(successes) == sorted(step_keys)
    return run.run_id


def test_step_pods_of_the_k8s_job_executor(
    cluster: Cluster,
    k8s_instance: tuple[DagsterInstance, str],
    kubeconfig: Path,  # noqa: F811 (the imported fixture)
    local_reference: dict[str, Path],
    tmp_path: Path,
) -> None:
    """With TRADING_RUNTIME_EXECUTOR=k8s_job: every step of backtest_parts (two partitions) and
    of aggregate in its own step pod."""
    instance, instance_yaml = k8s_instance
    env_vars = {**_launcher_env_vars(), "TRADING_RUNTIME_EXECUTOR": "k8s_job"}
    config = {
        **plain_launcher_config(),
        "env_vars": [f"{name}={value}" for name, value in env_vars.items()],
    }
    launcher, _ = make_launcher(config, kubeconfig, instance)
    settings = load_settings(env_vars)
    defs = build_definitions(settings)
    register_parts(instance, SAMPLE_PARTS)

    backtest = defs.resolve_job_def("backtest_parts")
    tags = {**backtest.run_tags, **partition_range_tags(*BASE_RANGE)}
    run_id = _run_step_pods(cluster, instance, instance_yaml, launcher, backtest, tags, tmp_path)
    assert _materialized_partitions(instance, run_id, "backtest_results") == BASE_KEYS

    aggregate = defs.resolve_job_def("aggregate")
    run_id = _run_step_pods(
        cluster, instance, instance_yaml, launcher, aggregate, aggregate.run_tags, tmp_path
    )
    assert _materialized_partitions(instance, run_id, "aggregate_metrics") == ["None"]
    assert_same_results(settings.results, local_reference[_base_hash()])


# ------------------------------------------------------------------ item 3: Argo pods


def _workflow_values(document: Mapping[str, Any], template: Mapping[str, Any]) -> dict[str, str]:
    """workflow.parameters.*: the template's defaults, then the submitted Workflow's values."""
    values = {
        f"workflow.parameters.{p['name']}": str(p["value"])
        for p in template["spec"]["arguments"]["parameters"]
        if "value" in p
    }
    for parameter in document["spec"]["arguments"]["parameters"]:
        values[f"workflow.parameters.{parameter['name']}"] = str(parameter["value"])
    return values


def _task_pods(
    task: Mapping[str, Any],
    templates: Mapping[str, Mapping[str, Any]],
    values: Mapping[str, str],
    cluster: Cluster,
    pod_user: str | None,
) -> list[Pod]:
    """The pods of one DAG task: one per item of its withParam list (one without a list)."""
    if "withParam" not in task:
        template = templates[task["template"]]
        return [pod_from_argo_template(task["name"], template, values, cluster.secrets, pod_user)]
    items = json.loads(argo_substitute(task["withParam"], values))
    pods = []
    for index, item in enumerate(items):
        item_values = (
            {f"item.{k}": str(v) for k, v in item.items()}
            if isinstance(item, dict)
            else {"item": str(item)}
        )
        inputs = {
            f"inputs.parameters.{p['name']}": argo_substitute(p["value"], {**values, **item_values})
            for p in task["arguments"]["parameters"]
        }
        pods.append(
            pod_from_argo_template(
                f"{task['name']}({index})",
                templates[task["template"]],
                {**values, **inputs},
                cluster.secrets,
                pod_user,
            )
        )
    return pods


def test_argo_backtest_workflow_pods_in_workflow_order(
    cluster: Cluster, local_reference: dict[str, Path], tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps(SWEEP))
    parts_url = load_settings(_launcher_env_vars()).parts_dir
    results_url = f"s3://{cluster.bucket}/argo"
    batch = prepare_batch(
        config_path=example_config_path("hftbacktest"),
        parts=SAMPLE_PARTS,
        parts_url=parts_url,
        results_url=results_url,
        image=cluster.image,
        sweep_path=sweep,
    )
    document = workflow_document(build_workflow(batch))
    template = yaml.safe_load((ROOT / "argo" / "workflowtemplate-backtest.yaml").read_text())
    assert document["spec"]["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    templates = {t["name"]: t for t in template["spec"]["templates"]}
    values = _workflow_values(document, template)
    pod_user = str(template["spec"]["securityContext"]["runAsUser"])

    dag = templates[template["spec"]["entrypoint"]]["dag"]["tasks"]
    assert [task["name"] for task in dag] == ["backtest", "aggregate", "leaderboard"]
    assert dag[1]["depends"] == "backtest"  # the fan-out, then one aggregate per variant
    assert dag[2]["depends"] == "aggregate"  # then one leaderboard over every variant
    for task in dag:
        pods = _task_pods(task, templates, values, cluster, pod_user)
        assert pods
        for pod in pods:
            assert pod.argv[0] == "trading-runtime"
            assert pod.env["TRADING_RUNTIME_ENV"] == "k8s"
            assert pod.files.get("/work/config.json", "{}") != ""
            run_pod(cluster.image, pod, tmp_path)

    variants = {variant.id: variant for variant in batch.variants}
    assert len(variants) == len(SWEEP)
    for variant_id, variant in sorted(variants.items()):
        assert_same_results(f"{results_url}/{variant_id}", local_reference[variant.config_hash])
    # The leaderboard pod ranked every variant from the object store.
    board = json.loads(UPath(f"{results_url}/leaderboard.json").read_text())
    assert board["variants"] == len(SWEEP) and board["parts"] == sorted(SAMPLE_PARTS)
    assert UPath(f"{results_url}/leaderboard.parquet").exists()
    # The comparison tells configs apart: the other variant's results are not the base's.
    other = next(v for v in batch.variants if v.config_hash != _base_hash())
    with pytest.raises(AssertionError):
        assert_same_results(f"{results_url}/{other.id}", local_reference[_base_hash()])


def test_build_push_shell_steps_in_the_image(cluster: Cluster, tmp_path: Path) -> None:
    """The build template's steps that need no registry: the SHA checks and the tags (validate),
    and the kaniko step's arguments up to the executor (replaced by printf)."""
    template = yaml.safe_load((ROOT / "argo" / "workflowtemplate-build-push.yaml").read_text())
    templates = {t["name"]: t for t in template["spec"]["templates"]}
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    values = {
        "workflow.parameters.runtime-sha": commit,
        "workflow.parameters.framework-sha": framework_pin().commit,
        "workflow.parameters.branch": "feature/cluster exec",
        "workflow.parameters.image": "ghcr.io/trading-engineering/trading-runtime",
        "workflow.parameters.cache-repo": "ghcr.io/trading-engineering/trading-runtime/cache",
    }
    validate = templates["validate"]["script"]
    env = {v["name"]: argo_substitute(v["value"], values) for v in validate["env"]}
    # A script template runs its command with the source as a file; `-c` is the same for sh.
    pod = Pod(
        name="build-push.validate",
        argv=[*validate["command"], "-c", validate["source"]],
        env=env,
        user=str(templates["validate"]["securityContext"]["runAsUser"]),
    )
    printed = run_pod(cluster.image, pod, tmp_path)
    assert f"tags: feature-cluster-exec {commit}" in printed

    bad = Pod(
        name="build-push.validate(bad sha)",
        argv=pod.argv,
        env={**pod.env, "RUNTIME_SHA": commit[:7]},
    )
    with pytest.raises(AssertionError, match="runtime-sha must be a full 40-character"):
        run_pod(cluster.image, bad, tmp_path)

    kaniko = templates["build-push"]["script"]
    values["inputs.parameters.tags"] = f"feature-cluster-exec {commit}"
    env = {v["name"]: argo_substitute(v["value"], values) for v in kaniko["env"]}
    source = kaniko["source"].replace("exec /kaniko/executor", "printf '%s\\n'")
    printed = run_pod(
        cluster.image,
        Pod(name="build-push.kaniko-args", argv=["sh", "-c", source], env=env),
        tmp_path,
    )
    args = printed.splitlines()
    assert f"--build-arg=TRADING_PLATFORM_COMMIT={framework_pin().commit}" in args
    assert f"--build-arg=GIT_COMMIT={commit}" in args
    assert "--target=runtime" in args
    assert f"--destination=ghcr.io/trading-engineering/trading-runtime:{commit}" in args
