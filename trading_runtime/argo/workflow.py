"""The Workflow that runs the backtest WorkflowTemplate (argo/workflowtemplate-backtest.yaml)
with a batch's arguments, built from hera's models; rendered as byte-stable YAML.

hera is imported inside the functions, so ``trading-runtime --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trading_runtime.argo.batch import Batch

if TYPE_CHECKING:
    from hera.workflows.models import Workflow

__all__ = ["API_VERSION", "build_workflow", "render_yaml", "workflow_document"]

API_VERSION = "argoproj.io/v1alpha1"


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
