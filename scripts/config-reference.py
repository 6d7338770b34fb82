#!/usr/bin/env python3
"""The backtest config reference in docs/configuration.md, generated from the pydantic models.

Reads ``BacktestConfig.model_json_schema()`` and writes one table per model (field, type,
default, description) between the markers ``BEGIN`` and ``END`` below. The output depends on the
schema only, so the same models give the same bytes.

    python scripts/config-reference.py           # print the generated section
    python scripts/config-reference.py --write   # write it into docs/configuration.md
    python scripts/config-reference.py --check   # exit 1 when docs/configuration.md is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from trading_runtime.config import BacktestConfig

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED: config reference (scripts/config-reference.py --write) -->"
END = "<!-- END GENERATED -->"
COMMAND = "PYTHONPATH=. .venv/bin/python scripts/config-reference.py --write"
INT64_MAX = 2**63 - 1

Schema = dict[str, Any]


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def anchor(name: str) -> str:
    return name.lower()


def bounds(node: Schema) -> str:
    """Numeric bounds, leaving out the int64 limits every integer field has."""
    parts = []
    for key, sign in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
    ):
        value = node.get(key)
        if value is not None and abs(value) < INT64_MAX:
            parts.append(f"{sign} {value}")
    return ", ".join(parts)


def type_of(node: Schema) -> str:
    """A short, readable type: model links, literals, unions, bounds."""
    if "$ref" in node:
        name = ref_name(node["$ref"])
        return f"[{name}](#{anchor(name)})"
    for key in ("oneOf", "anyOf"):
        if key in node:
            options = [type_of(option) for option in node[key]]
            return " or ".join(options)
    if "const" in node:
        return f'`"{node["const"]}"`'
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in node["enum"])
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {type_of(node.get('items', {}))}"
    if kind == "object":
        return "object"
    if kind == "string" and "pattern" in node:
        return f"string matching `{node['pattern']}`"
    if kind == "string" and "minLength" in node:
        return "non-empty string"
    limits = bounds(node)
    return f"{kind} ({limits})" if limits else str(kind)


def one_line(text: str) -> str:
    """One markdown line: reST literals as markdown code, pipes escaped for tables."""
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def model_classes(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model reachable from ``model`` through its fields' annotations, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def visit(annotation: Any) -> None:
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and annotation.__name__ not in found:
            found[annotation.__name__] = annotation
            for field in annotation.model_fields.values():
                visit(field.annotation)
        for argument in get_args(annotation):
            visit(argument)

    visit(model)
    return found


def default_of(name: str, node: Schema, required: set[str], model: type[BaseModel] | None) -> str:
    """The schema's default, or the value a default factory makes (absent from the schema)."""
    if name in required:
        return "required"
    if "default" in node:
        return f"`{json.dumps(node['default'])}`"
    field = model.model_fields.get(name) if model is not None else None
    if field is not None and field.default_factory is not None:
        value = field.get_default(call_default_factory=True, validated_data={})
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        return f"`{json.dumps(value, separators=(', ', ': '))}`"
    return "—"


def models_in_order(schema: Schema) -> list[tuple[str, Schema]]:
    """The top model, then every referenced model in order of first reference (breadth first)."""
    defs: dict[str, Schema] = schema.get("$defs", {})
    order: list[tuple[str, Schema]] = [(schema["title"], schema)]
    seen = {schema["title"]}
    index = 0
    while index < len(order):
        _, model = order[index]
        index += 1
        for name in referenced(model):
            if name not in seen:
                seen.add(name)
                order.append((name, defs[name]))
    return order


def referenced(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(ref_name(value))
            elif key not in ("$defs", "discriminator"):
                found.extend(referenced(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(referenced(item))
    return found


def render() -> str:
    schema = BacktestConfig.model_json_schema()
    classes = model_classes(BacktestConfig)
    lines = [BEGIN, ""]
    for name, model in models_in_order(schema):
        lines.append(f"### {name}")
        lines.append("")
        if model.get("description"):
            lines.append(one_line(model["description"]))
            lines.append("")
        required = set(model.get("required", []))
        lines.append("| field | type | default | description |")
        lines.append("|---|---|---|---|")
        for field, node in model.get("properties", {}).items():
            default = default_of(field, node, required, classes.get(name))
            description = one_line(node.get("description", ""))
            lines.append(f"| `{field}` | {type_of(node)} | {default} | {description} |")
        if model.get("additionalProperties") is False:
            lines.append("")
            lines.append("Unknown keys are refused.")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def replaced(document: str, section: str) -> str:
    start = document.index(BEGIN)
    stop = document.index(END) + len(END)
    return document[:start] + section + document[stop:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write into docs/configuration.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when the doc is stale")
    args = parser.parse_args(argv)
    section = render()
    if not (args.write or args.check):
        print(section)
        return 0
    document = DOC.read_text()
    if BEGIN not in document or END not in document:
        print(f"{DOC.name}: markers {BEGIN!r} and {END!r} not found", file=sys.stderr)
        return 1
    updated = replaced(document, section)
    if args.check:
        if updated != document:
            print(
                f"docs/{DOC.name}: the generated config reference is stale "
                f"(the config models changed). Regenerate it: {COMMAND}",
                file=sys.stderr,
            )
            return 1
        print(f"docs/{DOC.name}: config reference up to date")
        return 0
    DOC.write_text(updated)
    print(f"docs/{DOC.name}: config reference written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
