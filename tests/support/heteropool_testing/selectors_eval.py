"""Kubernetes label selectors and NetworkPolicy peers, evaluated the way the API server and a CNI do.

Tests use them to check that rendered selectors match the pods they are meant to (and no others).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: matchLabels AND every matchExpression; {} matches everything."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def admits(
    policy: Mapping[str, Any],
    *,
    policy_namespace: str,
    pod_namespace: str,
    pod_labels: Mapping[str, str],
    namespace_labels: Mapping[str, str] | None = None,
) -> bool:
    """Whether an ingress rule of `policy` admits a pod; namespaces carry kubernetes.io/metadata.name."""
    ns_labels = {"kubernetes.io/metadata.name": pod_namespace, **(namespace_labels or {})}
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            if "namespaceSelector" in peer:
                if not selector_matches(peer["namespaceSelector"], ns_labels):
                    continue
            elif pod_namespace != policy_namespace:
                continue  # a podSelector alone means the policy's own namespace
            if selector_matches(peer.get("podSelector") or {}, pod_labels):
                return True
    return False
