"""Objects a pool refers to but does not own: Secrets (HF token, API key, image pull) and networks.

The operator looks up only the names the spec mentions, one GET each; it never lists, watches or
caches Secrets, so its RBAC stays `get` on Secrets. A missing one is not a spec error: the pool is
Degraded with a reason naming it, the children that need it are held as they are (never created,
changed or deleted meanwhile), everything else is reconciled, and the pool is checked again every
RECHECK_S seconds until it appears.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heteropool.handlers.kube import KINDS, KubeClient
from heteropool.semantics import Pool

__all__ = ["RECHECK_S", "Reference", "spec_references", "missing_references", "needs_any", "describe"]

RECHECK_S = 2.0
_NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
_REASONS = {"Secret": "SecretNotFound", "NetworkAttachmentDefinition": "NetworkNotFound"}


@dataclass(frozen=True, slots=True)
class Reference:
    """One object the spec names: `path` is the spec field, for messages."""

    path: str
    kind: str
    namespace: str
    name: str

    @property
    def reason(self) -> str:
        return _REASONS[self.kind]

    def __str__(self) -> str:
        hint = " (is Multus installed?)" if self.kind == "NetworkAttachmentDefinition" else ""
        return f"{self.path}: {self.kind} {self.namespace}/{self.name} not found{hint}"


def spec_references(pool: Pool) -> list[Reference]:
    refs: list[Reference] = []
    if pool.spec.model.hf_token_secret_ref is not None:
        name = pool.spec.model.hf_token_secret_ref.name
        refs.append(Reference("spec.model.hfTokenSecretRef.name", "Secret", pool.namespace, name))
    if pool.spec.gateway.api_key_secret_ref is not None:
        name = pool.spec.gateway.api_key_secret_ref.name
        refs.append(Reference("spec.gateway.apiKeySecretRef.name", "Secret", pool.namespace, name))
    tls = pool.spec.gateway.picker.tls
    if tls.mode == "Secret" and tls.secret_name:
        refs.append(Reference("spec.gateway.picker.tls.secretName", "Secret", pool.namespace, tls.secret_name))
    for i, group in enumerate(pool.spec.vendors):
        refs += [
            Reference(f"spec.vendors[{i}].imagePullSecrets[{j}]", "Secret", pool.namespace, secret)
            for j, secret in enumerate(group.image_pull_secrets)
        ]
        if group.roce is not None and group.roce.enabled:
            refs += [
                Reference(
                    f"spec.vendors[{i}].roce.networks[{j}].name",
                    "NetworkAttachmentDefinition",
                    network.namespace or pool.namespace,
                    network.name,
                )
                for j, network in enumerate(group.roce.networks)
            ]
    return refs


async def missing_references(kube: KubeClient, pool: Pool) -> list[Reference]:
    """The spec's references that do not exist (each name looked up once, by GET)."""
    missing, seen = [], {}
    for ref in spec_references(pool):
        key = (ref.kind, ref.namespace, ref.name)
        if key not in seen:
            seen[key] = await kube.get(KINDS[ref.kind], ref.namespace, ref.name) is not None
        if not seen[key]:
            missing.append(ref)
    return missing


def describe(missing: Sequence[Reference]) -> str:
    return "; ".join(str(ref) for ref in missing) + "; the children that need it are left as they are"


def needs_any(obj: Mapping[str, Any], missing: Sequence[Reference]) -> bool:
    """True when `obj`'s pod template uses one of the `missing` objects."""
    wanted = {(ref.kind, ref.namespace, ref.name) for ref in missing}
    namespace = obj["metadata"].get("namespace", "")
    return any(found in wanted for found in _pod_references(obj, namespace))


def _pod_references(obj: Mapping[str, Any], namespace: str) -> Iterator[tuple[str, str, str]]:
    template = (obj.get("spec") or {}).get("template") or {}
    pod = template.get("spec") or {}
    for secret in pod.get("imagePullSecrets") or []:
        yield "Secret", namespace, secret.get("name", "")
    for volume in pod.get("volumes") or []:
        if "secret" in volume:
            yield "Secret", namespace, volume["secret"].get("secretName", "")
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        for env in container.get("env") or []:
            secret_ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if secret_ref:
                yield "Secret", namespace, secret_ref.get("name", "")
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                yield "Secret", namespace, source["secretRef"].get("name", "")
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    if _NETWORKS_ANNOTATION in annotations:
        for network in _networks(annotations[_NETWORKS_ANNOTATION]):
            yield "NetworkAttachmentDefinition", network.get("namespace") or namespace, network.get("name", "")


def _networks(text: str) -> list[dict[str, Any]]:
    """The Multus annotation: a JSON list of {name, namespace, interface} or `ns/name@if,...`."""
    try:
        parsed = json.loads(text)
        return [n for n in parsed if isinstance(n, dict)] if isinstance(parsed, list) else []
    except ValueError:
        out = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            namespace, _, name = item.split("@")[0].rpartition("/")
            out.append({"name": name, "namespace": namespace or None})
        return out
