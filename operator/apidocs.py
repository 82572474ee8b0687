"""The configuration reference (docs/api-reference.md), generated from the API models.

One row per field of `spec`, with its type, default and constraints as pydantic states them, so
the reference cannot drift from what the CRD and the operator accept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from heteropool.api import KIND, HeteroInferencePoolSpec

__all__ = ["api_reference_markdown"]

_CONSTRAINTS = (
    ("minimum", ">= {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "length >= {}"),
    ("maxLength", "length <= {}"),
    ("minItems", ">= {} items"),
    ("maxItems", "<= {} items"),
    ("pattern", "matches `{}`"),
)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        return {**_resolve(options[0], defs), **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if kind == "object" and "properties" not in node:
        return "map"
    if "anyOf" in node:
        return " or ".join(_type(o) for o in node["anyOf"] if o.get("type") != "null")
    return str(kind or "object")


def _rows(node: dict[str, Any], defs: dict[str, Any], path: str) -> Iterator[tuple[str, str, str, str, str]]:
    node = _resolve(node, defs)
    required = set(node.get("required", []))
    for name, sub in node.get("properties", {}).items():
        field = _resolve(sub, defs)
        if field.get("type") == "array" and "$ref" in field.get("items", {}):
            items = _resolve(field["items"], defs)
            yield _row(f"{path}.{name}[]", field, name in required, "list of objects")
            yield from _rows(items, defs, f"{path}.{name}[]")
        elif "properties" in field:
            yield _row(f"{path}.{name}", field, name in required, "object")
            yield from _rows(field, defs, f"{path}.{name}")
        else:
            yield _row(f"{path}.{name}", field, name in required, _type(field))


def _row(path: str, field: dict[str, Any], required: bool, kind: str) -> tuple[str, str, str, str, str]:
    shown_default = field.get("default")
    default = "required" if required else (f"`{json.dumps(shown_default)}`" if shown_default is not None else "")
    constraints = ", ".join(template.format(field[key]) for key, template in _CONSTRAINTS if key in field)
    description = " ".join(str(field.get("description", "")).split())
    return f"`{path}`", kind, default, constraints.replace("|", "\\|"), description.replace("|", "\\|")


def api_reference_markdown() -> str:
    """The reference document for `spec` of a HeteroInferencePool."""
    schema = HeteroInferencePoolSpec.model_json_schema(by_alias=True, mode="validation")
    defs = schema.pop("$defs", {})
    lines = [
        f"# {KIND} configuration reference",
        "",
        "Generated from `operator/api.py` by `heteropool crd --reference --write docs/api-reference.md`",
        "(`make crd`); do not edit. Fields are camelCase, unknown fields are rejected, and defaults",
        "are applied by the operator (stored objects stay as written).",
        "",
        "| field | type | default | constraints | description |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(schema, defs, "spec")]
    return "\n".join(lines) + "\n"
