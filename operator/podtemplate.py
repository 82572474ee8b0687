"""Merge a user's PodTemplateSpec overlay over a rendered pod template (pure, reusable by any workload).

The rules (docs/platform.md, "podTemplate") are those of a strategic merge patch, reduced to
what a pod template needs, so an overlay adds to what heteropool renders instead of replacing it:

- mappings merge key by key, recursively; the overlay's scalar wins (nodeSelector, affinity,
  securityContext, resources, metadata.labels/annotations, ...);
- lists of named things go by their key: containers, initContainers, volumes, imagePullSecrets
  and env by `name`, volumeMounts by `mountPath`, ports by `containerPort`; an entry with a new key
  is appended; an entry with a known key is merged into it (containers) or replaces it (the others:
  an env var or volume has one source, so halves of two would be invalid);
- tolerations and topologySpreadConstraints are appended (exact duplicates dropped);
- any other list, and any scalar, is replaced by the overlay's.

A container entry without a name addresses the main container (the first rendered one).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["apply_pod_template_overlay", "LIST_MERGE_KEYS", "APPENDED_LISTS"]

LIST_MERGE_KEYS: Mapping[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
"""Lists whose entries are matched by a key field rather than the list replaced whole."""

_MERGED_ENTRIES = frozenset({"containers", "initContainers"})

APPENDED_LISTS = frozenset({"tolerations", "topologySpreadConstraints", "hostAliases"})
"""Lists the overlay adds to."""


def apply_pod_template_overlay(pod_template: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`pod_template` (a PodTemplateSpec: metadata + spec) with `overlay` merged over it; inputs untouched."""
    merged = copy.deepcopy(dict(pod_template))
    overlay = copy.deepcopy(dict(overlay))
    containers = (overlay.get("spec") or {}).get("containers")
    rendered = (merged.get("spec") or {}).get("containers") or []
    if containers and rendered:  # a nameless entry means the main container
        main = rendered[0].get("name")
        overlay["spec"]["containers"] = [c if c.get("name") else {**c, "name": main} for c in containers]
    result: dict[str, Any] = _merge(merged, overlay)
    return result


def _merge(base: Any, overlay: Any, key: str | None = None) -> Any:
    if isinstance(base, Mapping) and isinstance(overlay, Mapping):
        out = dict(base)
        for k, v in overlay.items():
            out[k] = _merge(base[k], v, k) if k in base else v
        return out
    if isinstance(base, list) and isinstance(overlay, list):
        if key is not None and key in LIST_MERGE_KEYS:
            return _merge_keyed(base, overlay, LIST_MERGE_KEYS[key], merge_entries=key in _MERGED_ENTRIES)
        if key in APPENDED_LISTS:
            return base + [item for item in overlay if item not in base]
    return overlay


def _merge_keyed(base: Sequence[Any], overlay: Sequence[Any], field: str, *, merge_entries: bool) -> list[Any]:
    out = list(base)
    index = {item.get(field): i for i, item in enumerate(out) if isinstance(item, Mapping)}
    for item in overlay:
        at = index.get(item.get(field)) if isinstance(item, Mapping) else None
        if at is None:
            out.append(item)
        else:
            out[at] = _merge(out[at], item) if merge_entries else item
    return out
