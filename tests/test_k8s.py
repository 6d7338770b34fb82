"""Kubernetes deployment files, checked offline with the libraries the cluster runs.

- helm/values.yaml against the chart's schema (tests/support/k8s_chart_schema.py) and its meaning;
- k8s/dagster.yaml with dagster's instance schema and K8sRunLauncher's config type;
- the Kubernetes Job that dagster-k8s builds for a real run of `backtest_parts` (one partition),
  validated strictly against the Kubernetes 1.30 and newest OpenAPI schemas;
- K8sRunLauncher.launch_run against a recording batch API: the Job it would create;
- with TRADING_RUNTIME_EXECUTOR=k8s_job, the step Job of backtest_results and its resources.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes_validate
import pytest
import yaml
from dagster import DagsterInstance, DagsterRun, Definitions
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    USER_DEFINED_K8S_CONFIG_KEY,
    construct_dagster_k8s_job,
    get_job_name_from_run_id,
    get_k8s_job_name,
    get_user_defined_k8s_config,
)
from pydantic import ValidationError
from support.k8s_chart_schema import DagsterHelmValues

from trading_runtime.defs import build_definitions
from trading_runtime.defs.dagster_compat import (
    ComputeLogManager,
    ConfigurableClassData,
    ExecuteRunArgs,
    ExecuteStepArgs,
    JobPythonOrigin,
    LaunchRunContext,
    ModuleCodePointer,
    RepositoryPythonOrigin,
    create_execution_plan,
    dagster_instance_config,
    process_config,
    resolve_to_config_type,
    validate_config,
)
from trading_runtime.settings import RuntimeSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
HELM_VALUES = ROOT / "helm" / "values.yaml"
PLAIN_INSTANCE = ROOT / "k8s" / "dagster.yaml"
# The oldest API schema kubernetes-validate ships and its newest: a Job valid in both runs on
# any cluster in between (microk8s tracks recent releases).
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
REPOSITORY = "ghcr.io/trading-engineering/trading-runtime"
RUNTIME_SHA = "0123456789abcdef0123456789abcdef01234567"
IMAGE = f"{REPOSITORY}:{RUNTIME_SHA}"
PARTITION = "part-00000|base"  # a backtest_results partition: part x variant
SHA_TAG = re.compile(r"^[0-9a-f]{40}$")
# What the webserver/daemon pods of the plain setup have in their environment.
PLAIN_ENV = {
    "DAGSTER_PG_PASSWORD": "unused-in-tests",
    "TRADING_RUNTIME_IMAGE": IMAGE,
}
HELM_RELEASE = "dagster"  # fullname of `helm install dagster dagster/dagster`


def helm_values() -> dict[str, Any]:
    return yaml.safe_load(HELM_VALUES.read_text())


def helm_deployment() -> dict[str, Any]:
    (deployment,) = helm_values()["dagster-user-deployments"]["deployments"]
    return deployment


def to_manifest(obj: Any) -> dict[str, Any]:
    """A kubernetes client model as the JSON the API server receives."""
    return kubernetes.client.ApiClient().sanitize_for_serialization(obj)


def validate_k8s(manifest: Mapping[str, Any]) -> None:
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(dict(manifest), version, strict=True)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def plain_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PLAIN_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig for a cluster that is never contacted (the batch API is a recorder)."""
    path = tmp_path / "kubeconfig"
    cluster = {"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}
    context = {"name": "none", "context": {"cluster": "none", "user": "none"}}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "none", "user": {"token": "none"}}],
                "contexts": [context],
                "current-context": "none",
            }
        )
    )
    return path


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    # Persistent (not ephemeral): the launcher serializes an instance ref into the pod's args.
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    with DagsterInstance.from_config(str(home)) as created:
        yield created


class RecordingBatchApi:
    """Stands in for kubernetes.client.BatchV1Api: records the Jobs it is asked to create."""

    def __init__(self) -> None:
        self.created: list[tuple[Any, str]] = []

    def create_namespaced_job(self, body: Any, namespace: str, **_: Any) -> Any:
        self.created.append((body, namespace))
        return body


# ------------------------------------------------------------------------------ helpers


def k8s_settings(**changes: Any) -> RuntimeSettings:
    fields: dict[str, Any] = {
        "env": "k8s",
        "parts_dir": "s3://trading-runtime/parts",
        "results": "s3://trading-runtime/results",
        "workers": 4,
        "pod_memory": "6Gi",
    }
    return RuntimeSettings(**{**fields, **changes})


def plain_launcher_config() -> dict[str, Any]:
    """k8s/dagster.yaml's run_launcher config as dagster-k8s processes it (env vars resolved)."""
    raw = yaml.safe_load(PLAIN_INSTANCE.read_text())["run_launcher"]["config"]
    result = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), raw)
    assert result.success, [error.message for error in result.errors or []]
    return dict(result.value or {})


def helm_launcher_config() -> dict[str, Any]:
    """The run_launcher config the chart renders into the instance ConfigMap from our values
    (the chart's dagsterYaml.runLauncher.k8s template, for the keys helm/values.yaml sets)."""
    values = helm_values()
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    snake = {
        "containerConfig": "container_config",
        "podSpecConfig": "pod_spec_config",
        "podTemplateSpecMetadata": "pod_template_spec_metadata",
        "jobSpecConfig": "job_spec_config",
        "jobMetadata": "job_metadata",
    }
    raw = {
        "load_incluster_config": k8s.get("loadInclusterConfig", True),
        "job_namespace": k8s["jobNamespace"],
        "image_pull_policy": k8s["imagePullPolicy"],
        "image_pull_secrets": values["imagePullSecrets"],
        "service_account_name": HELM_RELEASE,
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{HELM_RELEASE}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_config_maps": [f"{HELM_RELEASE}-pipeline-env"],
        "env_secrets": [secret["name"] for secret in k8s["envSecrets"]],
        "fail_pod_on_run_failure": k8s["failPodOnRunFailure"],
        "run_k8s_config": {snake[key]: value for key, value in k8s["runK8sConfig"].items()},
    }
    result = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), raw)
    assert result.success, [error.message for error in result.errors or []]
    return dict(result.value or {})


def helm_container_context() -> dict[str, Any]:
    """What the chart hands `dagster api grpc` as the container context of our deployment
    (its dagsterUserDeployments.k8sContainerContext helper), so run pods inherit it."""
    values = helm_values()
    deployment = helm_deployment()
    k8s: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "image_pull_secrets": values["dagster-user-deployments"]["imagePullSecrets"],
        # The `env` map becomes this ConfigMap.
        "env_config_maps": [
            f"{HELM_RELEASE}-dagster-user-deployments-{deployment['name']}-user-env"
        ],
        "env_secrets": [secret["name"] for secret in deployment.get("envSecrets", [])],
    }
    if deployment.get("resources"):
        k8s["resources"] = deployment["resources"]
    return {"k8s": k8s}


def job_origin(container_context: Mapping[str, Any] | None) -> JobPythonOrigin:
    """The origin a run gets from the code server in the image (`dagster api grpc -m ...`)."""
    return JobPythonOrigin(
        job_name="backtest_parts",
        repository_origin=RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer(
                module="trading_runtime.definitions", fn_name="defs", working_directory="/app"
            ),
            container_image=IMAGE,
            entry_point=["dagster"],
            container_context=container_context,
        ),
    )


def partition_run(
    instance: DagsterInstance,
    settings: RuntimeSettings,
    container_context: Mapping[str, Any] | None = None,
) -> DagsterRun:
    """A run of backtest_parts for one partition, as the UI or a sensor creates it: the job's
    tags (dagster-k8s/config among them) plus the partition tag."""
    job = build_definitions(settings).resolve_job_def("backtest_parts")
    return instance.create_run_for_job(
        job_def=job,
        tags={**job.run_tags, "dagster/partition": PARTITION},
        job_code_origin=job_origin(container_context),
    )


def make_launcher(
    config: Mapping[str, Any], kubeconfig: Path, instance: DagsterInstance
) -> tuple[K8sRunLauncher, RecordingBatchApi]:
    batch_api = RecordingBatchApi()
    launcher = K8sRunLauncher(
        **{**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)},
        k8s_client_batch_api=batch_api,
    )
    launcher.register_instance(instance)
    return launcher, batch_api


def container(manifest: Mapping[str, Any]) -> dict[str, Any]:
    (only,) = manifest["spec"]["template"]["spec"]["containers"]
    return only


def env_of(manifest: Mapping[str, Any]) -> dict[str, str]:
    return {var["name"]: var.get("value") for var in container(manifest).get("env", [])}


def env_from_of(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    for source in container(manifest).get("envFrom", []):
        for kind in ("secretRef", "configMapRef"):
            if kind in source:
                found.append((kind, source[kind]["name"]))
    return found


def run_worker_manifest(
    run: DagsterRun, launcher: K8sRunLauncher, instance: DagsterInstance
) -> dict[str, Any]:
    """The run worker Job, built step by step with dagster-k8s's own functions."""
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    origin = run.job_code_origin
    assert origin is not None
    job_config = context.get_k8s_job_config(
        job_image=origin.repository_origin.container_image, run_launcher=launcher
    )
    args = ExecuteRunArgs(
        job_origin=origin, run_id=run.run_id, instance_ref=instance.get_ref()
    ).get_command_args()
    job_name = get_job_name_from_run_id(run.run_id)
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=args,
        job_name=job_name,
        pod_name=job_name,
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": run.job_name}],
    )
    return to_manifest(job)


def locked_versions(lock: Path) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock.read_text(), flags=re.MULTILINE)
    return {name.lower(): version for name, version in pins}


IMAGE_LOCK = ROOT / "requirements-framework.txt"


# ------------------------------------------------------------------------ Helm values


def test_helm_values_use_only_chart_fields() -> None:
    DagsterHelmValues.model_validate(helm_values())


def test_chart_version_is_the_locked_dagster_version() -> None:
    # The chart is released with Dagster; its code must match the image's dagster.
    dagster = locked_versions(ROOT / "requirements.txt")["dagster"]
    header = HELM_VALUES.read_text()
    assert f"chart version {dagster}" in header
    assert f"--version {dagster}" in header
    assert (
        f"chart version {dagster}"
        in (ROOT / "tests" / "support" / "k8s_chart_schema.py").read_text()
    )


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (("runLauncher", "config", "k8sRunLauncher"), "envSecret", []),  # misspelt
        (("dagster-user-deployments", "deployments", 0), "dagsterApiGrpcArg", []),
        (("dagster-user-deployments", "deployments", 0, "env"), "TRADING_RUNTIME_WORKERS", 4),
        (("postgresql",), "postgresHost", "db"),
    ],
)
def test_chart_schema_rejects_mistakes(path: tuple[Any, ...], key: str, value: Any) -> None:
    values = helm_values()
    node: Any = values
    for step in path:
        node = node[step]
    node[key] = value  # an unknown key, or an int where the chart's ConfigMap needs a string
    with pytest.raises(ValidationError):
        DagsterHelmValues.model_validate(values)


def test_helm_code_location_runs_this_project_from_the_runtime_image() -> None:
    deployment = helm_deployment()
    assert deployment["image"]["repository"] == REPOSITORY
    tag = deployment["image"]["tag"]
    assert SHA_TAG.match(tag) or tag == "<runtime-sha>", tag  # set with --set at install
    assert deployment["image"]["pullPolicy"] == "IfNotPresent"  # immutable SHA tags
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "trading_runtime.definitions"]
    assert deployment["port"] == 3030
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    # `dagster api grpc -m` loads the module's Definitions object.
    assert isinstance(import_module("trading_runtime.definitions").defs, Definitions)
    # The env is a valid settings set for k8s, as the code server and run pods load it.
    settings = load_settings(deployment["env"])
    assert settings.env == "k8s"
    assert settings.results.startswith("s3://")
    assert settings.parts_dir.startswith("s3://")
    assert settings.executor == "in_process"
    assert {"name": "trading-runtime-object-store"} in deployment["envSecrets"]


def test_helm_run_launcher_secrets_and_storage() -> None:
    values = helm_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert {"name": "trading-runtime-object-store"} in k8s["envSecrets"]
    assert k8s["jobNamespace"] == "dagster"
    assert {"name": "ghcr-secret"} in values["imagePullSecrets"]
    assert {"name": "ghcr-secret"} in values["dagster-user-deployments"]["imagePullSecrets"]
    # The instance database's password lives in a secret made by hand, never in the values.
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    assert "postgresqlPassword" not in values["postgresql"]
    # Container resources given to the code server would reach every run pod through
    # includeConfigInLaunchedRuns and shadow runK8sConfig.
    assert "resources" not in helm_deployment()


def test_helm_rendered_launcher_config_is_valid_for_dagster_k8s() -> None:
    config = helm_launcher_config()
    assert config["env_secrets"] == ["trading-runtime-object-store"]
    assert config["image_pull_secrets"] == [{"name": "ghcr-secret"}]
    assert config["run_k8s_config"]["container_config"]["resources"]["requests"]["cpu"] == "500m"


def test_helm_container_context_is_valid_for_dagster_k8s() -> None:
    container_config = K8sContainerContext.create_from_config(
        helm_container_context()
    ).run_k8s_config.container_config
    assert {"secret_ref": {"name": "trading-runtime-object-store"}} in container_config["env_from"]


# ------------------------------------------------------------------ plain dagster.yaml


def test_plain_dagster_yaml_is_a_valid_instance_config(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text(PLAIN_INSTANCE.read_text())
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["run_launcher"]["module"] == "dagster_k8s"
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert set(config["storage"]) == {"postgres"}
    # The compute log manager it names exists and takes its config.
    logs = config["compute_logs"]
    manager = ConfigurableClassData(
        logs["module"], logs["class"], yaml.safe_dump(logs.get("config") or {})
    ).rehydrate(as_type=ComputeLogManager)
    assert type(manager).__name__ == "NoOpComputeLogManager"
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }


@pytest.mark.usefixtures("plain_env")
def test_plain_run_launcher_config_is_valid_for_k8s_run_launcher() -> None:
    config = plain_launcher_config()
    assert config["job_image"] == IMAGE  # from the env var, as in the daemon's pod
    assert config["postgres_password_secret"] == "dagster-postgresql-secret"
    assert config["image_pull_secrets"] == [{"name": "ghcr-secret"}]
    assert config["env_secrets"] == ["trading-runtime-object-store"]
    settings = load_settings(dict(var.split("=", 1) for var in config["env_vars"]))
    assert settings.env == "k8s"
    assert settings.results.startswith("s3://")


def test_unknown_run_launcher_key_is_rejected() -> None:
    raw = yaml.safe_load(PLAIN_INSTANCE.read_text())["run_launcher"]["config"]
    raw["env_secret"] = ["trading-runtime-object-store"]  # misspelt env_secrets
    result = validate_config(resolve_to_config_type(K8sRunLauncher.config_type()), raw)
    assert not result.success


def test_the_image_can_open_a_postgres_instance() -> None:
    # Run pods rebuild the instance from its ref: PostgreSQL storage (Helm chart and
    # k8s/dagster.yaml) imports dagster_postgres inside the runtime image.
    versions = locked_versions(IMAGE_LOCK)
    assert versions["dagster-postgres"] == versions["dagster-k8s"]
    from dagster_postgres import DagsterPostgresStorage

    storage = yaml.safe_load(PLAIN_INSTANCE.read_text())["storage"]["postgres"]
    result = validate_config(resolve_to_config_type(DagsterPostgresStorage.config_type()), storage)
    assert result.success, result.errors


# ------------------------------------------------------------- the run worker Job


@pytest.mark.usefixtures("plain_env")
def test_run_worker_job_for_one_partition_is_a_valid_kubernetes_job(
    instance: DagsterInstance, kubeconfig: Path
) -> None:
    launcher, _ = make_launcher(plain_launcher_config(), kubeconfig, instance)
    run = partition_run(instance, k8s_settings())
    manifest = run_worker_manifest(run, launcher, instance)
    validate_k8s(manifest)
    assert manifest["kind"] == "Job"
    assert container(manifest)["image"] == IMAGE
    # The partition's pod gets the settings' resources from the job's dagster-k8s/config tag.
    assert container(manifest)["resources"] == {
        "requests": {"cpu": "4", "memory": "6Gi"},
        "limits": {"memory": "6Gi"},
    }


@pytest.mark.usefixtures("plain_env")
def test_strict_validation_catches_an_unknown_field(
    instance: DagsterInstance, kubeconfig: Path
) -> None:
    launcher, _ = make_launcher(plain_launcher_config(), kubeconfig, instance)
    manifest = run_worker_manifest(partition_run(instance, k8s_settings()), launcher, instance)
    broken = copy.deepcopy(manifest)
    container(broken)["resource"] = container(broken)["resources"]  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(broken)


@pytest.mark.usefixtures("plain_env")
def test_launch_run_creates_the_run_worker_job(instance: DagsterInstance, kubeconfig: Path) -> None:
    launcher, batch_api = make_launcher(plain_launcher_config(), kubeconfig, instance)
    run = partition_run(instance, k8s_settings())

    launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))

    ((body, namespace),) = batch_api.created
    manifest = to_manifest(body)
    validate_k8s(manifest)
    assert namespace == "dagster"
    assert manifest["metadata"]["name"] == get_job_name_from_run_id(run.run_id)
    labels = manifest["metadata"]["labels"]
    assert labels["dagster/job"] == "backtest_parts"
    assert labels["dagster/run-id"] == run.run_id
    assert labels["app.kubernetes.io/component"] == "run_worker"

    spec = manifest["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "ghcr-secret"}]
    assert spec["serviceAccountName"] == "dagster"
    assert spec["restartPolicy"] == "Never"
    main = container(manifest)
    assert main["image"] == IMAGE
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert main["args"][:3] == ["dagster", "api", "execute_run"]
    assert "command" not in main  # the image has no ENTRYPOINT: args are the whole command
    execute_run = json.loads(main["args"][3])
    assert execute_run["pipeline_run_id"] == run.run_id

    env = env_of(manifest)
    assert env["DAGSTER_RUN_JOB_NAME"] == "backtest_parts"
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    assert env["TRADING_RUNTIME_ENV"] == "k8s"
    assert env["TRADING_RUNTIME_RESULTS"] == "s3://trading-runtime/results"
    assert env["TRADING_RUNTIME_PARTS_DIR"] == "s3://trading-runtime/parts"
    pg_password = next(v for v in main["env"] if v["name"] == "DAGSTER_PG_PASSWORD")
    assert pg_password["valueFrom"]["secretKeyRef"] == {
        "name": "dagster-postgresql-secret",
        "key": "postgresql-password",
    }
    assert ("secretRef", "trading-runtime-object-store") in env_from_of(manifest)
    assert main["resources"]["requests"] == {"cpu": "4", "memory": "6Gi"}
    assert main["securityContext"]["runAsNonRoot"] is True
    # The run pod finds the instance (storage, launcher) in its arguments.
    assert execute_run["instance_ref"] is not None
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 86400
    # The launcher records the image on the run.
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    assert stored.tags["dagster/image"] == IMAGE


def test_launch_run_through_the_helm_setup(instance: DagsterInstance, kubeconfig: Path) -> None:
    """With the chart: launcher config from the instance ConfigMap, env and secrets from the
    code location's container context (includeConfigInLaunchedRuns)."""
    launcher, batch_api = make_launcher(helm_launcher_config(), kubeconfig, instance)
    settings = load_settings(helm_deployment()["env"])
    backtest = partition_run(instance, settings, helm_container_context())
    launcher.launch_run(LaunchRunContext(dagster_run=backtest, workspace=None))

    job = build_definitions(settings).resolve_job_def("aggregate")
    aggregate = instance.create_run_for_job(
        job_def=job, tags=dict(job.run_tags), job_code_origin=job_origin(helm_container_context())
    )
    launcher.launch_run(LaunchRunContext(dagster_run=aggregate, workspace=None))

    (backtest_job, ns1), (aggregate_job, ns2) = batch_api.created
    assert ns1 == ns2 == "dagster"
    for body in (backtest_job, aggregate_job):
        manifest = to_manifest(body)
        validate_k8s(manifest)
        sources = env_from_of(manifest)
        assert ("configMapRef", "dagster-dagster-user-deployments-trading-runtime-user-env") in (
            sources
        )
        assert ("secretRef", "trading-runtime-object-store") in sources
        assert manifest["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "ghcr-secret"}]
    # backtest_parts: the settings' pod size from the job tag; aggregate: runK8sConfig.
    assert container(to_manifest(backtest_job))["resources"] == {
        "requests": {"cpu": "4", "memory": "4Gi"},
        "limits": {"memory": "4Gi"},
    }
    run_k8s = helm_values()["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    assert (
        container(to_manifest(aggregate_job))["resources"]
        == run_k8s["containerConfig"]["resources"]
    )


# ------------------------------------------------ TRADING_RUNTIME_EXECUTOR=k8s_job


def test_local_settings_add_no_kubernetes_tags() -> None:
    defs = build_definitions(RuntimeSettings(env="local", workers=2))
    assert USER_DEFINED_K8S_CONFIG_KEY not in defs.resolve_job_def("backtest_parts").run_tags
    assert USER_DEFINED_K8S_CONFIG_KEY not in defs.resolve_assets_def("backtest_results").op.tags


def test_k8s_job_executor_puts_backtest_results_in_its_own_sized_pod(
    instance: DagsterInstance, kubeconfig: Path, plain_env: None
) -> None:
    settings = k8s_settings(executor="k8s_job", workers=8, pod_memory="16Gi")
    job = build_definitions(settings).resolve_job_def("backtest_parts")
    assert job.executor_def is k8s_job_executor

    plan = create_execution_plan(job, tags={"dagster/partition": PARTITION})
    step_tags = plan.get_step_by_key("backtest_results").tags
    user_defined = get_user_defined_k8s_config(step_tags)
    expected = {"requests": {"cpu": "8", "memory": "16Gi"}, "limits": {"memory": "16Gi"}}
    assert user_defined.container_config["resources"] == expected

    # The step Job as the executor builds it: run launcher context without the run's tags,
    # then the op's dagster-k8s/config.
    launcher, _ = make_launcher(plain_launcher_config(), kubeconfig, instance)
    run = partition_run(instance, settings)
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False).merge(
        K8sContainerContext(run_k8s_config=user_defined)
    )
    origin = run.job_code_origin
    assert origin is not None
    step_args = ExecuteStepArgs(
        job_origin=origin,
        run_id=run.run_id,
        step_keys_to_execute=["backtest_results"],
        instance_ref=instance.get_ref(),
    )
    job_name = f"dagster-step-{get_k8s_job_name(run.run_id, 'backtest_results')}"
    step_job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher),
        args=step_args.get_command_args(skip_serialized_namedtuple=True),
        job_name=job_name,
        pod_name=job_name,
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
        env_vars=[
            *step_args.get_command_env(),
            {"name": "DAGSTER_RUN_STEP_KEY", "value": "backtest_results"},
        ],
    )
    manifest = to_manifest(step_job)
    validate_k8s(manifest)
    assert container(manifest)["args"] == ["dagster", "api", "execute_step"]
    assert container(manifest)["resources"] == expected
    assert env_of(manifest)["TRADING_RUNTIME_ENV"] == "k8s"
    # The parts' job (validation and its check) carries no pod size of its own.
    validate = build_definitions(settings).resolve_job_def("validate_parts")
    parts_plan = create_execution_plan(validate, tags={"dagster/partition": "part-00000"})
    for key in ("parts", "parts_part_file_is_valid"):
        assert USER_DEFINED_K8S_CONFIG_KEY not in parts_plan.get_step_by_key(key).tags
