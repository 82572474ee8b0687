"""Server-side apply and field ownership (`metadata.managedFields`), as the apiserver keeps them.

Every write records which manager set which fields. An Update (POST, PUT, merge/strategic/JSON
patch) takes the fields it changed from everyone else and never conflicts. An Apply
(`application/apply-patch+yaml`, `fieldManager` required) declares the manager's whole intent:
changing a field another manager owns is a 409 Conflict unless `force=true` (which takes it over);
fields the manager applied before and no longer applies are removed unless someone else owns
them. Lists the operator renders merge per item by key (containers, env, ports, volumes,
volumeMounts, imagePullSecrets, ownerReferences, ...); other lists are atomic, as without a
list-map declaration. Ownership is tracked per (manager, operation, subresource).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from . import errors

Path = tuple[str, ...]  # fieldsV1 elements: "f:spec", 'k:{"name":"vllm"}', "." (the item itself)
ITEM = "."

# List field -> the item fields that identify an item (a list-map). Unlisted lists are atomic.
LIST_MAP_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",),
    "ownerReferences": ("uid",),
    "conditions": ("type",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
}
_DEFAULT_KEY_VALUES = {"protocol": "TCP"}
# Never owned: identity and bookkeeping the server sets.
_UNTRACKED_META = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
}


def list_keys(field: str, parent_field: str | None) -> tuple[str, ...] | None:
    if field == "ports":
        return (
            ("containerPort", "protocol") if parent_field in {"containers", "initContainers"} else ("port", "protocol")
        )
    return LIST_MAP_KEYS.get(field)


def _item_element(item: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    key = {k: item.get(k, _DEFAULT_KEY_VALUES.get(k)) for k in keys}
    return "k:" + json.dumps(key, sort_keys=True, separators=(",", ":"))


def leaves(obj: Mapping[str, Any], *, subresource: str | None = None, has_status: bool = False) -> dict[Path, Any]:
    """Every owned path of `obj` and its value (list items also as `(..., ITEM)` -> item)."""
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in {"apiVersion", "kind"}:
            continue
        if has_status and (key == "status") != (subresource == "status"):
            continue
        if key == "metadata" and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k not in _UNTRACKED_META}
            if subresource == "status":
                continue
        _walk(value, (f"f:{key}",), key, None, out)
    return out


def _walk(value: Any, path: Path, field: str, parent_field: str | None, out: dict[Path, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            _walk(child, (*path, f"f:{key}"), key, field, out)
        return
    keys = list_keys(field, parent_field) if isinstance(value, list) else None
    if keys is None or not all(isinstance(i, Mapping) for i in value):
        out[path] = value
        return
    for item in value:
        item_path = (*path, _item_element(item, keys))
        out[(*item_path, ITEM)] = item
        for key, child in item.items():
            _walk(child, (*item_path, f"f:{key}"), key, field, out)


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
    return root


def from_fields_v1(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for element, child in tree.items():
        path = (*prefix, element)
        if child:
            paths |= from_fields_v1(child, path)
        else:
            paths.add(path)
    return paths


def _entries(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        entry = dict(entry)
        entry["_paths"] = from_fields_v1(entry.get("fieldsV1") or {})
        entries.append(entry)
    return entries


def _render_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        if not entry["_paths"]:
            continue
        rendered = {k: v for k, v in entry.items() if k != "_paths"}
        rendered["fieldsType"] = "FieldsV1"
        rendered["fieldsV1"] = to_fields_v1(entry["_paths"])
        out.append(rendered)
    return out


def _same_entry(entry: Mapping[str, Any], manager: str, operation: str, subresource: str | None) -> bool:
    return (entry.get("manager"), entry.get("operation"), entry.get("subresource")) == (manager, operation, subresource)


def _set_entry(
    entries: list[dict[str, Any]],
    manager: str,
    operation: str,
    subresource: str | None,
    api_version: str,
    paths: set[Path],
    now: str,
) -> None:
    entry = next((e for e in entries if _same_entry(e, manager, operation, subresource)), None)
    if entry is None:
        entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now, "_paths": set()}
        if subresource:
            entry["subresource"] = subresource
        entries.append(entry)
    if entry["_paths"] != paths:
        entry["time"] = now
    entry["_paths"] = set(paths)


def track_update(
    current: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    manager: str,
    subresource: str | None,
    has_status: bool,
    now: str,
) -> list[dict[str, Any]]:
    """managedFields after a non-apply write: `manager` owns what it changed, nobody owns what left."""
    entries = _entries(current) if current is not None else []
    old = leaves(current, subresource=subresource, has_status=has_status) if current is not None else {}
    fresh = leaves(new, subresource=subresource, has_status=has_status)
    changed = {p for p, v in fresh.items() if p not in old or old[p] != v}
    gone = set(old) - set(fresh)
    for entry in entries:
        entry["_paths"] -= changed | gone
    if changed:
        mine: set[Path] = next((e["_paths"] for e in entries if _same_entry(e, manager, "Update", subresource)), set())
        _set_entry(entries, manager, "Update", subresource, new.get("apiVersion", ""), mine | changed, now)
    return _render_entries(entries)


def apply(
    current: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    *,
    manager: str,
    force: bool,
    subresource: str | None,
    has_status: bool,
    now: str,
) -> dict[str, Any]:
    """The object after `manager` applies `applied` (with managedFields set).

    Raises:
        ApiError: 409 Conflict naming each field another manager owns with a different value.
    """
    intent = leaves(applied, subresource=subresource, has_status=has_status)
    if current is None:
        result: dict[str, Any] = copy.deepcopy(dict(applied))
        entries: list[dict[str, Any]] = []
        _set_entry(entries, manager, "Apply", subresource, applied.get("apiVersion", ""), set(intent), now)
        result.setdefault("metadata", {})["managedFields"] = _render_entries(entries)
        return result
    entries = _entries(current)
    live = leaves(current, subresource=subresource, has_status=has_status)
    others = [e for e in entries if e.get("manager") != manager]
    conflicts = sorted(
        {
            (e["manager"], e.get("apiVersion", ""), path)
            for path, value in intent.items()
            if path[-1] != ITEM and path in live and live[path] != value
            for e in others
            if path in e["_paths"]
        }
    )
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry in others:
        entry["_paths"] -= {path for _, _, path in conflicts}
    result = _merge(current, applied, None)
    previous: set[Path] = next((e["_paths"] for e in entries if _same_entry(e, manager, "Apply", subresource)), set())
    kept_by_others = set().union(*(e["_paths"] for e in entries if not _same_entry(e, manager, "Apply", subresource)))
    for path in sorted(previous - set(intent) - kept_by_others, key=lambda p: (p[-1] != ITEM, len(p), p)):
        if path[-1] == ITEM:
            item = path[:-1]
            if not any(p[: len(item)] == item for p in kept_by_others | set(intent)):
                _remove(result, item)
        elif not any(p[: len(path)] == path for p in kept_by_others | set(intent)):
            _remove(result, path)
    _set_entry(entries, manager, "Apply", subresource, applied.get("apiVersion", ""), set(intent), now)
    result.setdefault("metadata", {})["managedFields"] = _render_entries(entries)
    return result


def _conflict_error(conflicts: list[tuple[str, str, Path]]) -> errors.ApiError:
    causes = [
        {"reason": "FieldManagerConflict", "message": f'conflict with "{m}" using {v}', "field": _dotted(p)}
        for m, v, p in conflicts
    ]
    lines = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
    return errors.ApiError(
        status=409,
        reason="Conflict",
        message=(f"Apply failed with {len(causes)} conflict{'s' if len(causes) > 1 else ''}:\n{lines}"),
        details={"causes": causes},
    )


def _dotted(path: Path) -> str:
    return "".join(f".{e[2:]}" if e.startswith("f:") else f"[{e[2:]}]" for e in path if e != ITEM)


def _merge(live: Any, applied: Any, field: str | None, parent_field: str | None = None) -> Any:
    if isinstance(applied, Mapping) and isinstance(live, Mapping):
        out = dict(live)
        for key, value in applied.items():
            out[key] = _merge(live.get(key), value, key, field)
        return out
    keys = list_keys(field or "", parent_field) if isinstance(applied, list) else None
    if keys is not None and isinstance(live, list) and all(isinstance(i, Mapping) for i in [*live, *applied]):
        merged = {_item_element(i, keys): i for i in live}
        for item in applied:
            element = _item_element(item, keys)
            merged[element] = _merge(merged.get(element), item, field, parent_field)
        return list(merged.values())
    return copy.deepcopy(applied)


def _remove(obj: Any, path: Path) -> None:
    """Delete the field or list item at `path`, then any map it leaves empty."""
    node, trail = obj, []
    for element in path[:-1]:
        trail.append(node)
        node = _child(node, element)
        if node is None:
            return
    last = path[-1]
    if last.startswith("k:") and isinstance(node, list):
        node[:] = [i for i in node if not (isinstance(i, Mapping) and _matches(i, last))]
    elif last.startswith("f:") and isinstance(node, dict):
        node.pop(last[2:], None)
    for parent, element in zip(reversed(trail), reversed(path[:-1]), strict=False):
        child = _child(parent, element)
        if element.startswith("f:") and isinstance(parent, dict) and child in ({}, []):
            parent.pop(element[2:], None)
        else:
            break


def _child(node: Any, element: str) -> Any:
    if element.startswith("f:") and isinstance(node, Mapping):
        return node.get(element[2:])
    if element.startswith("k:") and isinstance(node, list):
        return next((i for i in node if isinstance(i, Mapping) and _matches(i, element)), None)
    return None


def _matches(item: Mapping[str, Any], element: str) -> bool:
    key = json.loads(element[2:])
    return all(item.get(k, _DEFAULT_KEY_VALUES.get(k)) == v for k, v in key.items())
