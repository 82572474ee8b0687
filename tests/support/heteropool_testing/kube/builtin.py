"""Schema checks for built-in kinds, from kubernetes-validate's bundled (strict) JSON schemas.

Like the apiserver: a wrong type or a missing required field is 422 Invalid; an unknown field is
dropped (fieldValidation Warn, the default) or 400 BadRequest with `?fieldValidation=Strict`
(what kubectl sends).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from . import errors

SCHEMA_VERSION = "1.34.0"


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    prefix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{SCHEMA_VERSION}-local-strict"
    try:
        schema = kv.schema_contents(f"{folder}/{kind.lower()}-{prefix}.json", SCHEMA_VERSION)
    except FileNotFoundError:
        return None
    definitions = kv.schema_contents(f"{folder}/_definitions.json", SCHEMA_VERSION)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_builtin(obj: dict[str, Any], *, strict: bool) -> dict[str, Any]:
    """Return `obj` with unknown fields dropped; raise 422 (or 400 when strict) otherwise."""
    validator = _validator(obj.get("kind", ""), obj.get("apiVersion", ""))
    if validator is None:
        return obj
    causes: list[dict[str, str]] = []
    unknown: list[tuple[list[Any], str]] = []
    for error in validator.iter_errors(obj):
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            declared = set((error.schema.get("properties") or {}).keys())
            unknown += [(list(error.absolute_path), key) for key in error.instance if key not in declared]
            continue
        field = _path(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value",
                    "field": f"{field}.{missing}" if field else missing,
                }
            )
        else:
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "field": field,
                    "message": f"Invalid value: {json.dumps(error.instance)[:80]}: {error.message[:200]}",
                }
            )
    if causes:
        meta = obj.get("metadata") or {}
        raise errors.invalid(
            obj.get("kind", ""), obj.get("apiVersion", "").rpartition("/")[0], meta.get("name", ""), causes
        )
    if unknown and strict:
        fields = ", ".join(f'unknown field "{_path([*path, key])}"' for path, key in unknown)
        raise errors.bad_request(f"strict decoding error: {fields}")
    for path, key in unknown:
        node: Any = obj
        for part in path:
            node = node[part]
        node.pop(key, None)
    return obj
