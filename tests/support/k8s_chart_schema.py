"""The part of the Dagster Helm chart's values schema that helm/values.yaml uses, as strict models.

Field names and types follow the chart's own pydantic models, from which it generates
values.schema.json (dagster-io/dagster: helm/dagster/schema/schema/charts/dagster/values.py,
subschema/{global_,postgresql,run_launcher}.py, dagster_user_deployments/subschema/
user_deployments.py, utils/kubernetes.py) on the 1.13 line, chart version 1.13.27 (the chart is
versioned with Dagster; requirements.txt locks dagster 1.13.27 / dagster-k8s 0.29.27).

Two differences, both stricter: every model forbids unknown keys (the chart ignores many, and a
misspelt key would silently fall back to a default), and fields the chart requires are optional
here because its own values.yaml supplies defaults that Helm merges under ours.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

PullPolicy = Literal["Always", "IfNotPresent", "Never"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SecretRef(Strict):  # kubernetes LocalObjectReference
    name: StrictStr


class SecretEnvSource(Strict):  # kubernetes SecretEnvSource
    name: StrictStr
    optional: StrictBool | None = None


class ConfigMapEnvSource(SecretEnvSource):
    pass


class Image(Strict):
    repository: StrictStr
    tag: StrictStr | StrictInt | None = None
    pullPolicy: PullPolicy


class ResourceRequirements(Strict):
    requests: dict[str, StrictStr | StrictInt] | None = None
    limits: dict[str, StrictStr | StrictInt] | None = None


class Global(Strict):
    postgresqlSecretName: StrictStr | None = None
    dagsterHome: StrictStr | None = None
    serviceAccountName: StrictStr | None = None
    celeryConfigSecretName: StrictStr | None = None


class PostgreSQLService(Strict):
    port: StrictInt


class PostgreSQL(Strict):
    image: Image | None = None
    enabled: StrictBool
    postgresqlHost: StrictStr | None = None
    postgresqlUsername: StrictStr | None = None
    postgresqlPassword: StrictStr | None = None
    postgresqlDatabase: StrictStr | None = None
    postgresqlParams: dict[str, Any] | None = None
    postgresqlScheme: StrictStr | None = None
    service: PostgreSQLService | None = None


class IncludeConfigInLaunchedRuns(Strict):
    enabled: StrictBool


class UserDeployment(Strict):
    name: StrictStr
    image: Image
    dagsterApiGrpcArgs: list[StrictStr] | None = None
    codeServerArgs: list[StrictStr] | None = None
    includeConfigInLaunchedRuns: IncludeConfigInLaunchedRuns | None = None
    deploymentNamespace: StrictStr | None = None
    port: StrictInt
    replicaCount: StrictInt | None = Field(default=None, gt=0)
    # The chart also takes a list of EnvVar; only the map reaches run pods (as a ConfigMap).
    env: dict[str, StrictStr] | None = None
    envConfigMaps: list[ConfigMapEnvSource] | None = None
    envSecrets: list[SecretEnvSource] | None = None
    annotations: dict[str, StrictStr] | None = None
    labels: dict[str, StrictStr] | None = None
    resources: ResourceRequirements | None = None
    securityContext: dict[str, Any] | None = None
    podSecurityContext: dict[str, Any] | None = None


class UserDeployments(Strict):
    enabled: StrictBool
    enableSubchart: StrictBool
    imagePullSecrets: list[SecretRef] | None = None
    deployments: list[UserDeployment]


class RunK8sConfig(Strict):
    containerConfig: dict[str, Any] | None = None
    podSpecConfig: dict[str, Any] | None = None
    podTemplateSpecMetadata: dict[str, Any] | None = None
    jobSpecConfig: dict[str, Any] | None = None
    jobMetadata: dict[str, Any] | None = None


class K8sRunLauncherConfig(Strict):
    image: Image | None = None
    imagePullPolicy: PullPolicy | None = None
    jobNamespace: StrictStr | None = None
    loadInclusterConfig: StrictBool | None = None
    kubeconfigFile: StrictStr | None = None
    envConfigMaps: list[ConfigMapEnvSource] | None = None
    envSecrets: list[SecretEnvSource] | None = None
    envVars: list[StrictStr] | None = None
    labels: dict[str, StrictStr] | None = None
    failPodOnRunFailure: StrictBool | None = None
    resources: ResourceRequirements | None = None
    schedulerName: StrictStr | None = None
    securityContext: dict[str, Any] | None = None
    runK8sConfig: RunK8sConfig | None = None


class RunLauncherConfig(Strict):
    k8sRunLauncher: K8sRunLauncherConfig | None = None


class RunLauncher(Strict):
    type: Literal["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]
    config: RunLauncherConfig


class DagsterHelmValues(Strict):
    global_: Global | None = Field(default=None, alias="global")
    imagePullSecrets: list[SecretRef] | None = None
    generatePostgresqlPasswordSecret: StrictBool | None = None
    postgresql: PostgreSQL | None = None
    dagsterUserDeployments: UserDeployments | None = Field(
        default=None, alias="dagster-user-deployments"
    )
    runLauncher: RunLauncher | None = None
