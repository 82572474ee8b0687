"""Decide whether a live child object differs from what we render, and the patch that fixes it.

Only fields we render are compared: the API server fills in defaults (terminationMessagePath,
dnsPolicy, clusterIP, ...) that must not look like drift, or every reconcile would write.
Keys we used to render but no longer do are removed explicitly (JSON merge patch `null`) for the
parts of an object we own entirely, e.g. the pod template's annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["covers", "merge_patch", "OWNED_PATHS"]

# Per kind: dotted paths of mappings whose keys we own outright. Keys there that we do not render
# are deleted; everywhere else, keys others added are left alone.
OWNED_PATHS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec.template.metadata.annotations", "spec.template.spec"),
    "ConfigMap": ("data",),
    "Service": ("spec.selector",),
}

# Keys of owned mappings that others legitimately set (kubectl rollout restart) or the server
# defaults; never deleted.
_KEEP_KEYS = {
    "kubectl.kubernetes.io/restartedAt",
    "dnsPolicy",
    "restartPolicy",
    "schedulerName",
    "securityContext",
    "terminationGracePeriodSeconds",
    "serviceAccount",
    "serviceAccountName",
    "deprecatedServiceAccount",
    "containers",
    "volumes",
}


def covers(live: Any, desired: Any) -> bool:
    """True when every field of `desired` is present and equal in `live` (lists element-wise)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(k in live and covers(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list) and len(live) == len(desired) and all(covers(a, b) for a, b in zip(live, desired))
        )
    if isinstance(desired, bool) or isinstance(live, bool):
        return live is desired
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return float(live) == float(desired)
    return bool(live == desired)


def merge_patch(live: Mapping[str, Any], desired: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The JSON merge patch that makes `live` cover `desired` (empty when it already does)."""
    patch = _diff(live, desired)
    for path in OWNED_PATHS.get(kind, ()):
        _drop_unrendered(live, desired, patch, path.split("."))
    return patch


def _diff(live: Any, desired: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        current = live.get(key) if isinstance(live, Mapping) else None
        if covers(current, value):
            continue
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            patch[key] = _diff(current, value)
        else:
            patch[key] = value  # scalars and lists are replaced whole
    return patch


def _drop_unrendered(live: Any, desired: Any, patch: dict[str, Any], parts: list[str]) -> None:
    for part in parts:
        live = live.get(part) if isinstance(live, Mapping) else None
        desired = desired.get(part) if isinstance(desired, Mapping) else None
    if not isinstance(live, Mapping):
        return
    desired = desired if isinstance(desired, Mapping) else {}
    stale = [k for k, v in live.items() if k not in desired and k not in _KEEP_KEYS and v not in (None, {}, [], False)]
    if not stale:
        return
    node = patch
    for part in parts:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return  # the whole parent is replaced already
    for key in stale:
        node[key] = None
