"""Batch backtests on Argo Workflows: the batch (``batch``), the Workflow that runs the
WorkflowTemplate ``argo/workflowtemplate-backtest.yaml`` over it (``workflow``), and its
submission (``client``)."""

from trading_runtime.argo.batch import (
    BACKTEST_TEMPLATE,
    DEFAULT_IMAGE_REPOSITORY,
    DEFAULT_NAMESPACE,
    DEFAULT_PARALLELISM,
    DEFAULT_SERVICE_ACCOUNT,
    Batch,
    image_reference,
    object_store_url,
    part_keys,
    prepare_batch,
)
from trading_runtime.argo.client import ArgoClient, bare_token, server_url, workflow_link
from trading_runtime.argo.errors import ArgoError, ArgoUnreachableError
from trading_runtime.argo.sweep import (
    Variant,
    load_sweep,
    plan_variants,
    strategy_parameter_problem,
)
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
