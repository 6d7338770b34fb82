"""Offline validation of Argo manifests: hera's generated models made strict, plus Argo rules the
models do not express.

hera 7.1's models (generated from Argo's schema) check types but ignore unknown keys and accept
Python field names, so a misplaced field (``parallelism`` on a DAG task, ``podMetadata`` on a
template) passes, and Argo silently drops it too. ``make_hera_strict`` forbids unknown keys on every
model and rebuilds their schemas. That changes hera for the whole process, so run it as a script:

    python tests/support/argo_strict.py [--json] FILE.yaml ...

Each YAML document is validated against the model named by its ``kind``; the exit status is 1 when
any problem is found. ``--json`` prints ``{file: [problem, ...]}``. ``semantic_problems`` (no hera,
safe to import anywhere) checks references: parameters, templates, tasks, template variables.
"""

from __future__ import annotations

import json
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "argoproj.io/v1alpha1"
KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
TEMPLATE_TYPES = (
    "container",
    "script",
    "dag",
    "steps",
    "resource",
    "suspend",
    "containerSet",
    "data",
    "http",
    "plugin",
)
# Roots of Argo's template variables (docs: variables.md); anything else is a typo.
VARIABLE_ROOTS = {
    "inputs",
    "outputs",
    "workflow",
    "item",
    "tasks",
    "steps",
    "pod",
    "node",
    "retries",
    "lastRetry",
    "cronworkflow",
}
_TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}")


# --------------------------------------------------------------------------- strict hera models


def _strict_model_classes() -> list[type]:
    """Every hera API model, ordered so that a model comes after the models its fields use."""
    import hera.workflows.models  # noqa: F401  (imports, hence registers, every generated model)
    from hera.shared._pydantic import APIBaseModel

    found: set[type] = set()
    pending = [APIBaseModel]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)

    def key(cls: type) -> tuple[str, str]:
        return cls.__module__, cls.__qualname__

    def uses(cls: Any) -> list[type]:
        out: set[type] = set()

        def collect(annotation: Any) -> None:
            if isinstance(annotation, type) and annotation in found:
                out.add(annotation)
            for arg in typing.get_args(annotation):
                collect(arg)

        for field in cls.model_fields.values():
            collect(field.annotation)
        out.discard(cls)
        return sorted(out, key=key)

    ordered: list[type] = []
    seen: set[type] = set()

    def visit(cls: type) -> None:  # depth-first, dependencies first; cycles broken at a revisit
        if cls in seen:
            return
        seen.add(cls)
        for dependency in uses(cls):
            visit(dependency)
        ordered.append(cls)

    for cls in sorted(found, key=key):
        visit(cls)
    return ordered


def make_hera_strict() -> None:
    """Forbid unknown keys and Python field names on every hera model (process-wide)."""
    classes: list[Any] = _strict_model_classes()
    for cls in classes:
        cls.model_config["extra"] = "forbid"
        # Argo reads camelCase keys only: ``pod_gc`` would be dropped just like a typo.
        cls.model_config["validate_by_name"] = False
        cls.model_config["populate_by_name"] = False

    # A rebuilt model embeds the schemas its fields' models had at that moment, so rebuild in
    # dependency order and repeat until nothing changes (recursive models need a second pass).
    def fingerprint() -> list[int]:
        return [repr(cls.__pydantic_core_schema__).count("'forbid'") for cls in classes]

    before = fingerprint()
    for _ in range(6):
        for cls in classes:
            cls.model_rebuild(force=True)
        after = fingerprint()
        if after == before:
            return
        before = after
    raise RuntimeError("hera models did not settle after 6 rebuild passes")


def model_problems(document: dict[str, Any]) -> list[str]:
    """Problems found by the (strict, once ``make_hera_strict`` ran) model of the document's kind."""
    import hera.workflows.models as models
    from pydantic import ValidationError

    kind = document.get("kind")
    if document.get("apiVersion") != API_VERSION:
        return [f"apiVersion: expected {API_VERSION}, got {document.get('apiVersion')!r}"]
    if kind not in KINDS:
        return [f"kind: expected one of {', '.join(KINDS)}, got {kind!r}"]
    model = getattr(models, kind)
    try:
        model.model_validate(document)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        ]
    return []


# --------------------------------------------------------------------------- semantics


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, string) for every string value under node."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}.{index}")


def variables(node: Any) -> Iterator[tuple[str, str]]:
    """(path, variable) for every ``{{ ... }}`` tag under node, expressions (``{{=``) excluded."""
    for path, text in _strings(node):
        for match in _TAG.finditer(text):
            if not match.group(1).startswith("="):
                yield path, match.group(1)


def _names(entries: Any) -> list[str]:
    return [entry.get("name") for entry in entries or [] if isinstance(entry, dict)]


def _declared_parameters(spec: dict[str, Any]) -> set[str]:
    return set(_names((spec.get("arguments") or {}).get("parameters")))


def semantic_problems(document: dict[str, Any]) -> list[str]:
    """Reference and structure problems Argo reports only at submission (or not at all)."""
    problems: list[str] = []
    spec = document.get("spec") or {}
    if document.get("kind") == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    templates = spec.get("templates") or []
    by_name: dict[str, dict[str, Any]] = {}
    for template in templates:
        name = template.get("name")
        if name in by_name:
            problems.append(f"templates: duplicate template name {name!r}")
        by_name[name] = template
    workflow_parameters = _declared_parameters(spec)

    if spec.get("workflowTemplateRef"):
        if templates:
            problems.append("spec: a Workflow with workflowTemplateRef should not define templates")
        # {{workflow.parameters.X}} of a referenced template are checked against that template.
        return problems

    entrypoint = spec.get("entrypoint")
    if entrypoint not in by_name:
        problems.append(f"spec.entrypoint: no template named {entrypoint!r}")
    on_exit = spec.get("onExit")
    if on_exit and on_exit not in by_name:
        problems.append(f"spec.onExit: no template named {on_exit!r}")

    for template in templates:
        where = f"templates.{template.get('name')}"
        kinds = [kind for kind in TEMPLATE_TYPES if kind in template]
        if len(kinds) != 1:
            problems.append(f"{where}: needs exactly one template type, has {kinds or 'none'}")
        if "dag" in template or "steps" in template:
            for field in ("activeDeadlineSeconds", "timeout"):
                if field in template:
                    problems.append(f"{where}.{field}: only valid on leaf templates")

        inputs = template.get("inputs") or {}
        input_parameters = set(_names(inputs.get("parameters")))
        input_artifacts = set(_names(inputs.get("artifacts")))
        for path, variable in variables(template):
            at = f"{where}.{path}"
            root = variable.split(".", 1)[0]
            if root not in VARIABLE_ROOTS:
                problems.append(f"{at}: unknown variable {{{{{variable}}}}}")
            elif variable.startswith("inputs.parameters."):
                name = variable.removeprefix("inputs.parameters.")
                if name not in input_parameters:
                    problems.append(f"{at}: {{{{{variable}}}}} is not an input of the template")
            elif variable.startswith("inputs.artifacts."):
                name = variable.removeprefix("inputs.artifacts.").split(".", 1)[0]
                if name not in input_artifacts:
                    problems.append(f"{at}: {{{{{variable}}}}} is not an input of the template")
            elif variable.startswith("workflow.parameters."):
                name = variable.removeprefix("workflow.parameters.")
                if name not in workflow_parameters:
                    problems.append(f"{at}: {{{{{variable}}}}} is not a workflow parameter")

        if "dag" in template:
            problems.extend(_dag_problems(where, template["dag"].get("tasks") or [], by_name))
        for index, group in enumerate(template.get("steps") or []):
            for step in group:
                problems.extend(
                    _call_problems(f"{where}.steps.{index}.{step.get('name')}", step, by_name)
                )
    return problems


def _call_problems(
    where: str, call: dict[str, Any], by_name: dict[str, dict[str, Any]]
) -> list[str]:
    """A DAG task or step: its template exists and gets exactly the inputs it declares."""
    problems = []
    looped = any(key in call for key in ("withParam", "withItems", "withSequence"))
    for path, variable in variables(call):
        if (variable == "item" or variable.startswith("item.")) and not looped:
            problems.append(f"{where}.{path}: {{{{{variable}}}}} outside withParam/withItems")
    if "templateRef" in call:
        return problems  # another WorkflowTemplate's: checked where it is defined
    target = by_name.get(call.get("template"))
    if target is None:
        problems.append(f"{where}.template: no template named {call.get('template')!r}")
        return problems
    declared = {
        entry["name"]: entry
        for entry in (target.get("inputs") or {}).get("parameters") or []
        if isinstance(entry, dict)
    }
    passed = set(_names((call.get("arguments") or {}).get("parameters")))
    for name in sorted(passed - set(declared)):
        problems.append(f"{where}.arguments: {name!r} is not an input of {target['name']!r}")
    for name, entry in sorted(declared.items()):
        has_own = "value" in entry or "default" in entry or "valueFrom" in entry
        if name not in passed and not has_own:
            problems.append(f"{where}.arguments: input {name!r} of {target['name']!r} not given")
    return problems


_TASK_REFERENCE = re.compile(r"^tasks\.([^.]+)\.outputs\.parameters\.([^.]+)$")
_DEPENDS_NAME = re.compile(r"[A-Za-z0-9_-]+")
_DEPENDS_KEYWORDS = {
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
}


def _task_dependencies(task: dict[str, Any]) -> set[str]:
    names = set(task.get("dependencies") or [])
    depends = task.get("depends") or ""
    for token in _DEPENDS_NAME.findall(depends):
        if token not in _DEPENDS_KEYWORDS:
            names.add(token)
    return names


def _dag_problems(
    where: str, tasks: list[dict[str, Any]], by_name: dict[str, dict[str, Any]]
) -> list[str]:
    problems = []
    by_task = {}
    for task in tasks:
        name = task.get("name")
        if name in by_task:
            problems.append(f"{where}.dag: duplicate task name {name!r}")
        by_task[name] = task
    upstream = {name: _task_dependencies(task) for name, task in by_task.items()}

    def ancestors(name: str) -> set[str]:
        out: set[str] = set()
        pending = list(upstream.get(name, ()))
        while pending:
            current = pending.pop()
            if current not in out:
                out.add(current)
                pending.extend(upstream.get(current, ()))
        return out

    for name, task in by_task.items():
        at = f"{where}.dag.{name}"
        if "depends" in task and "dependencies" in task:
            problems.append(f"{at}: cannot use both depends and dependencies")
        for dependency in sorted(upstream[name]):
            if dependency not in by_task:
                problems.append(f"{at}: depends on unknown task {dependency!r}")
        if name in ancestors(name):
            problems.append(f"{at}: dependency cycle")
        problems.extend(_call_problems(at, task, by_name))
        for path, variable in variables(task):
            match = _TASK_REFERENCE.match(variable)
            if match is None:
                continue  # not an output parameter (tasks.X.status, ...): not checked
            producer, output = match.groups()
            if producer not in by_task:
                problems.append(f"{at}.{path}: {{{{{variable}}}}} names no task")
                continue
            if producer not in ancestors(name):
                problems.append(f"{at}.{path}: {{{{{variable}}}}} without depending on it")
            produced = by_name.get(by_task[producer].get("template"), {})
            outputs = set(_names((produced.get("outputs") or {}).get("parameters")))
            if output not in outputs:
                problems.append(f"{at}.{path}: {{{{{variable}}}}} is not an output")
    return problems


def arguments_problems(workflow: dict[str, Any], template: dict[str, Any]) -> list[str]:
    """A Workflow submitted against a WorkflowTemplate: its arguments are the template's
    parameters, and every parameter the template leaves without a value is given."""
    given = _declared_parameters(workflow.get("spec") or {})
    declared = {
        entry["name"]: entry
        for entry in ((template.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    }
    problems = [
        f"arguments: {name!r} is not a parameter of the template"
        for name in sorted(given - set(declared))
    ]
    problems += [
        f"arguments: required parameter {name!r} not given"
        for name, entry in sorted(declared.items())
        if "value" not in entry and "valueFrom" not in entry and name not in given
    ]
    return problems


# --------------------------------------------------------------------------- script


def load_documents(path: str) -> list[dict[str, Any]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    paths = [arg for arg in argv if arg != "--json"]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    make_hera_strict()
    report: dict[str, list[str]] = {}
    for path in paths:
        problems: list[str] = []
        for document in load_documents(path):
            name = (document.get("metadata") or {}).get("name") or (
                document.get("metadata") or {}
            ).get("generateName")
            label = f"{document.get('kind')}/{name}"
            problems += [f"{label}: {p}" for p in model_problems(document)]
            problems += [f"{label}: {p}" for p in semantic_problems(document)]
        report[path] = problems
    if as_json:
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        for path, problems in report.items():
            for problem in problems:
                print(f"{path}: {problem}")
            if not problems:
                print(f"{path}: valid")
    return 1 if any(report.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
