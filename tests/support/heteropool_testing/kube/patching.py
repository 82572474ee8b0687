"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic merge patch.

Strategic merge is emulated for the list fields our operator renders (containers by `name`,
container ports by `containerPort`, Service ports by `port`, env by `name`, volumes, mounts,
ownerReferences by `uid`, conditions by `type`, finalizers as a set) and the `$patch`,
`$retainKeys`, `$deleteFromPrimitiveList/` and `$setElementOrder/` directives. Lists not in the
table are replaced, as JSON merge does; that matches the apiserver for lists without a patch
strategy (tolerations, RBAC rules and subjects, args, command).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from .errors import ApiError, bad_request

MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "env": "name",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}
PRIMITIVE_MERGE_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, `null` deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """RFC 6902; a failed `test` or a bad path is 422 Invalid, as on the apiserver."""
    try:
        return jsonpatch.apply_patch(target, ops, in_place=False)  # type: ignore[no-any-return]
    except (jsonpatch.JsonPatchTestFailed, jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as exc:
        raise ApiError(
            status=422,
            reason="Invalid",
            message=f"the server rejected our request due to an error in our request: {exc}",
        ) from exc
    except (jsonpatch.InvalidJsonPatch, TypeError) as exc:
        raise bad_request(f"invalid JSON patch: {exc}") from exc


def _merge_key(field: str, parent_field: str | None) -> str | None:
    if field == "ports":
        return "containerPort" if parent_field in {"containers", "initContainers"} else "port"
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any, parent_field: str | None = None) -> Any:
    """Apply a strategic merge patch to a built-in object (see the module docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in {"$retainKeys", "$patch"}:
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field) or [] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, parent_field)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, parent_field=key)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, current: Any, patch: list[Any], parent_field: str | None) -> list[Any]:
    current_list = list(current) if isinstance(current, list) else []
    if field in PRIMITIVE_MERGE_LISTS:
        return current_list + [item for item in patch if item not in current_list]
    key = _merge_key(field, parent_field)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    if any(item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
    merged = list(current_list)
    for item in patch:
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        index = next((i for i, old in enumerate(merged) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(strategic_merge_patch({}, item, parent_field=field))
        else:
            merged[index] = strategic_merge_patch(merged[index], item, parent_field=field)
    return merged
