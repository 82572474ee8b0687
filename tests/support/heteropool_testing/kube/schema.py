"""CustomResourceDefinitions: discovery facts, structural pruning, defaulting, 422 validation.

What a CRD's `openAPIV3Schema` does on a real apiserver and here: unknown fields are pruned
(unless `x-kubernetes-preserve-unknown-fields`), `default`s are filled in, and the object is
validated (jsonschema; `nullable` and `x-kubernetes-int-or-string` are honoured). Not done: CEL
`x-kubernetes-validations`, `format` checks beyond jsonschema's, list-type/map-type uniqueness.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import jsonschema
import yaml

from .errors import invalid


@attrs.frozen
class CrdVersion:
    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    subresources: frozenset[str]
    schema: dict[str, Any] | None
    printer_columns: tuple[dict[str, Any], ...]

    @property
    def key(self) -> str:
        return f"{self.group}/{self.version}/{self.plural}"


def crd_versions(crd: dict[str, Any]) -> list[CrdVersion]:
    """The served versions of one CRD object (apiextensions.k8s.io/v1)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for ver in spec.get("versions") or []:
        if not ver.get("served", True):
            continue
        subresources = set((ver.get("subresources") or {}).keys())
        result.append(
            CrdVersion(
                group=spec["group"],
                version=ver["name"],
                plural=names["plural"],
                kind=names["kind"],
                singular=names.get("singular") or names["kind"].lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(subresources),
                schema=(ver.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(ver.get("additionalPrinterColumns") or ()),
            )
        )
    return result


def load_crd_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """All CustomResourceDefinition documents in the given files or folders (*.yaml, *.yml, *.json)."""
    docs: list[dict[str, Any]] = []
    for path in paths:
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"}) if path.is_dir() else [path]
        )
        for file in files:
            stat = file.stat()
            docs += copy.deepcopy(_parse_crd_file(file, stat.st_mtime_ns, stat.st_size))
    return docs


@functools.lru_cache(maxsize=64)
def _parse_crd_file(path: Path, mtime_ns: int, size: int) -> list[dict[str, Any]]:
    """Parsed once per file version: every test starts an emulator, and YAML is slow."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [
        doc
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader)
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
    ]


def _to_jsonschema(node: Any) -> Any:
    """Translate the OpenAPI dialect bits that jsonschema would otherwise ignore or misread."""
    if isinstance(node, list):
        return [_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if isinstance(node.get(exclusive), bool):  # OpenAPI 3.0: a flag on minimum/maximum
            out.pop(exclusive)
            if node[exclusive] and bound in out:
                out[exclusive] = out.pop(bound)
    for key in ("properties", "patternProperties", "definitions"):
        if isinstance(node.get(key), dict):
            out[key] = {name: _to_jsonschema(sub) for name, sub in node[key].items()}
    return out


def prune_and_default(obj: Any, schema: dict[str, Any] | None, *, root: bool = False) -> Any:
    """Drop fields the structural schema does not declare; fill in declared defaults."""
    if (
        schema is None
        or schema.get("x-kubernetes-preserve-unknown-fields")
        and "properties" not in schema
        and "additionalProperties" not in schema
    ):
        return obj
    if isinstance(obj, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if root and key in {"apiVersion", "kind", "metadata"}:
                out[key] = value
            elif key in props:
                out[key] = prune_and_default(value, props[key])
            elif isinstance(extra, dict):
                out[key] = prune_and_default(value, extra)
            elif extra is True or keep_unknown or schema.get("x-kubernetes-embedded-resource"):
                out[key] = value
        for key, sub in props.items():
            if key not in out and isinstance(sub, dict) and "default" in sub:
                out[key] = prune_and_default(copy.deepcopy(sub["default"]), sub)
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [prune_and_default(item, schema["items"]) for item in obj]
    return obj


def _field_path(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validate(obj: dict[str, Any], crd: CrdVersion) -> None:
    """Raise 422 Invalid naming every offending field, as `kubectl apply` would show it."""
    if crd.schema is None:
        return
    body = {k: v for k, v in obj.items() if k != "metadata"}
    validator = jsonschema.Draft7Validator(
        _to_jsonschema(
            {
                **crd.schema,
                "properties": {k: v for k, v in (crd.schema.get("properties") or {}).items() if k != "metadata"},
            }
        )
    )
    causes: list[dict[str, str]] = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        field = _field_path(error)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            field = f"{field}.{missing}" if field else missing
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": field})
        elif error.validator == "enum":
            allowed = ", ".join(json.dumps(v) for v in error.validator_value)
            causes.append(
                {
                    "reason": "FieldValueNotSupported",
                    "field": field,
                    "message": f"Unsupported value: {json.dumps(error.instance)}: supported values: {allowed}",
                }
            )
        else:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": field,
                    "message": f"Invalid value: {json.dumps(error.instance)[:80]}: {field} in body {error.message}",
                }
            )
    if causes:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise invalid(crd.kind, crd.group, name, causes)
