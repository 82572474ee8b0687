"""Generate the HeteroInferencePool CRD from the pydantic models in api.py.

Pydantic emits JSON Schema draft 2020-12; Kubernetes wants a structural OpenAPI v3 subset: no
`$ref`, no `anyOf` of a type and null, boolean `exclusiveMinimum`, no titles. This module does
that translation and adds what only a CRD has (printer columns, subresources, names).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import yaml
from pydantic import BaseModel

from heteropool.api import (
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    HeteroInferencePoolSpec,
    HeteroInferencePoolStatus,
)

__all__ = ["PRINTER_COLUMNS", "crd_manifest", "crd_yaml", "structural_schema"]

_DROP_KEYS = {"title", "default", "example", "examples"}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Vendors", "type": "string", "jsonPath": ".status.vendorSummary"},
    {
        "name": "Replicas",
        "type": "string",
        "jsonPath": ".status.replicas",
        "description": "ready/desired vLLM replicas",
    },
    {"name": "Weights", "type": "string", "jsonPath": ".status.weightSummary"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "priority": 1,
    },
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.name", "priority": 1},
    {"name": "Policy", "type": "string", "jsonPath": ".spec.gateway.routing.policy", "priority": 1},
    {
        "name": "Tokens/s",
        "type": "integer",
        "jsonPath": ".status.throughputTokensPerS",
        "description": "output tokens/s of the whole pool",
        "priority": 1,
    },
    {"name": "Gateway", "type": "integer", "jsonPath": ".status.gateway.readyReplicas", "priority": 1},
]

# Applies to the root of the object: the pool name becomes a label value and a prefix of
# Service names, so it must be a DNS-1035 label.
_ROOT_RULES = [
    {
        "rule": "self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        "message": "metadata.name must be a DNS-1035 label: at most 63 lowercase letters, digits or '-', "
        "starting with a letter",
    }
]


def structural_schema(model: type[BaseModel], *, by_alias: bool = True) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model (refs inlined, nullables flattened)."""
    raw = model.model_json_schema(by_alias=by_alias, mode="validation")
    defs = raw.pop("$defs", {})
    schema: dict[str, Any] = _convert(raw, defs)
    return schema


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        # Field-level description/extras win over the referenced model's own.
        target.update({k: v for k, v in node.items() if k not in _DROP_KEYS})
        return _convert(target, defs)
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if node.get("x-kubernetes-int-or-string"):
            pass  # int|str: the marker replaces the union
        elif len(options) == 1:
            merged = dict(options[0])
            merged.update({k: v for k, v in node.items() if k not in _DROP_KEYS})
            return _convert(merged, defs)
        elif all(o.get("type") in {"integer", "number", "string", "boolean"} for o in options):
            node["x-kubernetes-preserve-unknown-fields"] = True  # scalar of several types
        else:
            raise ValueError(f"cannot express union in a structural schema: {options}")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "additionalProperties":
            out[key] = _convert(value, defs) if isinstance(value, dict) else value
        else:
            out[key] = _convert(value, defs)
    if out.get("type") == "object" and not out.get("properties") and out.get("additionalProperties", True) is True:
        out.pop("properties", None)
        out["x-kubernetes-preserve-unknown-fields"] = True  # dict[str, Any]: free-form
    if out.get("additionalProperties") is False:
        del out["additionalProperties"]  # structural schemas reject unknown fields by pruning
    if out.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" in out:
        del out["additionalProperties"]  # preserved objects are free-form; pydantic checks values
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    return out


def crd_manifest() -> dict[str, Any]:
    """The CustomResourceDefinition object."""
    spec_schema = structural_schema(HeteroInferencePoolSpec)
    status_schema = structural_schema(HeteroInferencePoolStatus)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "heteropool", "app.kubernetes.io/part-of": "heteropool"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["heteropool"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "A pool of vLLM replicas on several accelerator vendors behind one routing gateway."
                            ),
                            "required": ["spec"],
                            "x-kubernetes-validations": _ROOT_RULES,
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as the YAML document checked in under crds/."""
    header = "# Generated by `heteropool crd --write` from operator/api.py. Do not edit.\n"
    return header + yaml.safe_dump(crd_manifest(), sort_keys=False, width=120)
