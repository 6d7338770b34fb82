"""Batch backtests on Argo Workflows: the batch (``batch``), the Workflow that runs the
WorkflowTemplate ``argo/workflowtemplate-backtest.yaml`` over it (``workflow``), and its
submission (``client``)."""

from trading_runtime.argo.batch import (
    BACKTEST_TEMPLATE,
    DEFAULT_IMAGE_REPOSITORY,
    DEFAULT_NAMESPACE,
    DEFAULT_PARALLELISM,
    DEFAULT_SERVICE_ACCOUNT,
    ArgoError,
    ArgoUnreachableError,
    Batch,
    Variant,
    image_reference,
    load_sweep,
    object_store_url,
    part_keys,
    plan_variants,
    prepare_batch,
    strategy_parameter_problem,
)
from trading_runtime.argo.client import ArgoClient, bare_token, server_url, workflow_link
from trading_runtime.argo.workflow import (
    API_VERSION,
    build_workflow,
    render_yaml,
    workflow_document,
)

__all__ = [
    "API_VERSION",
    "BACKTEST_TEMPLATE",
    "DEFAULT_IMAGE_REPOSITORY",
    "DEFAULT_NAMESPACE",
    "DEFAULT_PARALLELISM",
    "DEFAULT_SERVICE_ACCOUNT",
    "ArgoClient",
    "ArgoError",
    "ArgoUnreachableError",
    "Batch",
    "Variant",
    "bare_token",
    "build_workflow",
    "image_reference",
    "load_sweep",
    "object_store_url",
    "part_keys",
    "plan_variants",
    "prepare_batch",
    "render_yaml",
    "server_url",
    "strategy_parameter_problem",
    "workflow_document",
    "workflow_link",
]
