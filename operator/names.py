"""Names every side agrees on: child object names, label keys, routing policy names.

The operator renders children under these names and labels, the operator's weight loop and the
Endpoint Picker find them by the same ones, and the API schema, the scheduling profiles and the
command lines accept the same policy names. Pure: no imports beyond the standard library.
"""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

__all__ = [
    "POOL_LABEL",
    "GROUP_LABEL",
    "VENDOR_LABEL",
    "COMPONENT_LABEL",
    "MANAGED_BY_LABEL",
    "SERVICE_NAME_LABEL",
    "MANAGED_BY",
    "MAX_NAME_LENGTH",
    "child_name",
    "vllm_service_name",
    "routing_configmap_name",
    "PolicyName",
    "POLICY_NAMES",
    "DEFAULT_POLICY",
]

POOL_LABEL = "heteropool.dev/pool"
"""On every child of a pool: the pool's name."""
GROUP_LABEL = "heteropool.dev/group"
"""On a vendor group's Deployment, pods, Service (and so its EndpointSlices): the group's name."""
VENDOR_LABEL = "heteropool.dev/vendor"
"""On a vendor group's objects: the accelerator vendor (several groups may share one)."""
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""Set by Kubernetes on an EndpointSlice: the Service it belongs to."""

MANAGED_BY = "heteropool-operator"
"""Value of `app.kubernetes.io/managed-by` on everything the operator owns."""

MAX_NAME_LENGTH = 63


def child_name(pool: str, *parts: str) -> str:
    """`<pool>-<parts...>`, shortened with a stable hash when it would exceed 63 characters."""
    full = "-".join((pool, *parts))
    if len(full) <= MAX_NAME_LENGTH:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: MAX_NAME_LENGTH - len(digest) - 1].rstrip('-')}-{digest}"


def vllm_service_name(pool: str, group: str) -> str:
    """A vendor group's headless Service (and Deployment): `<pool>-vllm-<group>`."""
    return child_name(pool, "vllm", group)


def routing_configmap_name(pool: str) -> str:
    """The ConfigMap holding the pool's routing document."""
    return child_name(pool, "routing")


PolicyName = Literal["heteropool", "llm-d", "least-request", "round-robin"]
"""A routing policy (`spec.gateway.routing.policy`, `heteropool epp --policy`, `heteropool simulate`)."""

POLICY_NAMES: tuple[str, ...] = get_args(PolicyName)
"""Routing policy names, default first."""

DEFAULT_POLICY: PolicyName = "heteropool"
