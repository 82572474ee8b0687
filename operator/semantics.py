"""Turn a pool manifest into a validated `Pool`, or a `SpecError` that names the offending field.

The CRD schema rejects what it can at admission; this module re-checks the same shape (for
`heteropool render` and for clusters that skipped the CRD's CEL rules) and adds the rules only
the operator can judge. Every message starts with the field path, e.g.
`spec.vendors[1].vllm.extraArgs[0]: --block-size is rendered from spec.vendors[1].vllm.blockSize`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from heteropool.api import GROUP, KIND, VERSION, HeteroInferencePoolSpec, VendorGroup
from heteropool.names import COMPONENT_LABEL, GROUP_LABEL, POOL_LABEL, VENDOR_LABEL
from heteropool.validation import first_problem
from heteropool.vendors import vendor_profile

__all__ = ["SpecError", "Pool", "parse_pool", "parse_manifest", "RENDERED_VLLM_FLAGS"]

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

# Flags the renderer owns; passing them again through extraArgs would make two sources of truth.
RENDERED_VLLM_FLAGS: Mapping[str, str] = {
    "--block-size": "vllm.blockSize",
    "--max-num-seqs": "vllm.maxNumSeqs",
    "--max-num-batched-tokens": "vllm.maxNumBatchedTokens",
    "--gpu-memory-utilization": "vllm.gpuMemoryUtilization",
    "--kv-cache-dtype": "vllm.kvCacheDtype",
    "--tensor-parallel-size": "acceleratorsPerReplica",
    "-tp": "acceleratorsPerReplica",
    "--served-model-name": "spec.model.servedName",
    "--max-model-len": "spec.model.maxModelLen or vllm.maxModelLen",
    "--dtype": "vllm.dtype",
    "--revision": "spec.model.revision",
    "--port": "(fixed: 8000)",
    "--host": "(fixed: all interfaces)",
}

# Device-visibility variables the device plugins inject; setting them by hand breaks vLLM.
_FORBIDDEN_ENV: Mapping[str, tuple[str, ...]] = {
    "amd": ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"),
    "nvidia": ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"),
    "intel-gaudi": ("HABANA_VISIBLE_DEVICES", "HABANA_VISIBLE_MODULES"),
}


class SpecError(ValueError):
    """A pool manifest that cannot be rendered; `path` names the field, `problem` says why."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Pool:
    """A validated pool: what the renderer and the operator work from."""

    name: str
    namespace: str
    spec: HeteroInferencePoolSpec
    uid: str | None = None


def parse_manifest(manifest: Mapping[str, Any], default_namespace: str = "default") -> Pool:
    """Validate a whole HeteroInferencePool object (apiVersion, kind, metadata, spec)."""
    if not isinstance(manifest, Mapping):
        raise SpecError("(document)", f"expected a HeteroInferencePool object, got {type(manifest).__name__}")
    api_version = manifest.get("apiVersion")
    if api_version != f"{GROUP}/{VERSION}":
        raise SpecError("apiVersion", f"must be {GROUP}/{VERSION}, got {api_version!r}")
    if manifest.get("kind") != KIND:
        raise SpecError("kind", f"must be {KIND}, got {manifest.get('kind')!r}")
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise SpecError("metadata", "must be an object")
    if "spec" not in manifest:
        raise SpecError("spec", "is required")
    return parse_pool(
        manifest["spec"],
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace") or default_namespace,
        uid=metadata.get("uid"),
    )


def parse_pool(spec: Any, *, name: str, namespace: str, uid: str | None = None) -> Pool:
    """Validate a pool's spec and the rules the schema cannot express.

    Raises:
        SpecError: for the first problem found, naming its field.
    """
    if not isinstance(name, str) or len(name) > 63 or not _DNS_1035.match(name):
        raise SpecError(
            "metadata.name",
            "must be a DNS-1035 label (at most 63 lowercase letters, digits or '-', starting with a letter), "
            f"got {name!r}",
        )
    try:
        model = HeteroInferencePoolSpec.model_validate(spec)
    except ValidationError as exc:
        raise SpecError(*first_problem(exc, "spec")) from None
    problem = next(_semantic_problems(model), None)
    if problem is not None:
        raise problem
    return Pool(name=name, namespace=namespace, spec=model, uid=uid)


def _semantic_problems(spec: HeteroInferencePoolSpec) -> Iterator[SpecError]:
    seen: dict[str, int] = {}
    for i, group in enumerate(spec.vendors):
        where = f"spec.vendors[{i}]"
        if group.group_name in seen:
            yield SpecError(
                f"{where}.name",
                f"vendor group name {group.group_name!r} is already used by spec.vendors[{seen[group.group_name]}]; "
                "give each group of the same vendor its own name",
            )
        seen[group.group_name] = i
        yield from _group_problems(group, where)
    for j, arg in enumerate(spec.model.extra_args):
        yield from _flag_problems(arg, f"spec.model.extraArgs[{j}]")
    yield from _weight_problems(spec, seen)
    objectives: dict[str, int] = {}
    for k, objective in enumerate(spec.gateway.routing.objectives):
        if objective.name in objectives:
            yield SpecError(
                f"spec.gateway.routing.objectives[{k}].name",
                f"objective {objective.name!r} is already declared by spec.gateway.routing.objectives"
                f"[{objectives[objective.name]}]; give each objective one priority",
            )
        objectives.setdefault(objective.name, k)


def _group_problems(group: VendorGroup, where: str) -> Iterator[SpecError]:
    profile = vendor_profile(group.vendor)
    if group.accelerator is not None and group.accelerator not in profile.accelerators:
        yield SpecError(
            f"{where}.accelerator",
            f"unknown {group.vendor} accelerator {group.accelerator!r}; known: {', '.join(profile.accelerators)}",
        )
    for j, arg in enumerate(group.vllm.extra_args):
        yield from _flag_problems(arg, f"{where}.vllm.extraArgs[{j}]")
    for j, env in enumerate(group.env):
        if env.name in _FORBIDDEN_ENV.get(group.vendor, ()):
            yield SpecError(
                f"{where}.env[{j}].name",
                f"{env.name} is set by the {group.vendor} device plugin for the devices it allocates; do not set it",
            )
        if (env.value is None) == (env.value_from is None):
            yield SpecError(f"{where}.env[{j}]", "set exactly one of value and valueFrom")
    resource = profile.device_resource
    for kind in ("requests", "limits"):
        declared = getattr(group.resources, kind)
        if resource and resource in declared:
            yield SpecError(
                f"{where}.resources.{kind}[{resource}]",
                "the device count is rendered from acceleratorsPerReplica; set it there",
            )
    for key, value in group.resources.requests.items():
        limit = group.resources.limits.get(key)
        if key.startswith("hugepages-") and limit is not None and str(limit) != str(value):
            yield SpecError(
                f"{where}.resources.requests[{key}]",
                f"hugepages requests must equal limits ({value} != {limit})",
            )
    yield from _pod_template_problems(group, f"{where}.podTemplate")
    if profile.is_simulator and group.accelerators_per_replica != 1:
        yield SpecError(f"{where}.acceleratorsPerReplica", "a sim replica uses no accelerator; leave it at 1")
    if group.roce is not None and group.roce.enabled:
        if profile.is_simulator:
            yield SpecError(f"{where}.roce", "RoCE is not available for the sim vendor")
        elif not group.roce.networks:
            yield SpecError(f"{where}.roce.networks", "RoCE is enabled but no Multus network is listed")
        if profile.collective_env_prefix != "NCCL" and (
            group.roce.nccl.ib_hca is not None or group.roce.nccl.gid_index is not None
        ):
            yield SpecError(
                f"{where}.roce.nccl",
                f"{group.vendor} collectives do not use NCCL; only socketIfname applies "
                f"(rendered as {profile.collective_env_prefix}_SOCKET_IFNAME)",
            )


# Labels the Deployment selects its pods by (immutable) and the data plane and policies rely on.
_SELECTOR_LABELS = (POOL_LABEL, GROUP_LABEL, VENDOR_LABEL, COMPONENT_LABEL)


def _pod_template_problems(group: VendorGroup, where: str) -> Iterator[SpecError]:
    """What the podTemplate overlay may not do: move the pod out of its group, or break the merge."""
    overlay = group.pod_template
    if overlay is None:
        return
    for key in overlay.metadata.labels:
        if key in _SELECTOR_LABELS:
            yield SpecError(
                f"{where}.metadata.labels[{key}]",
                "is rendered by heteropool (the group's selector); it cannot be changed",
            )
    for field in ("containers", "initContainers", "volumes", "imagePullSecrets", "tolerations"):
        value = overlay.spec.get(field)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            yield SpecError(f"{where}.spec.{field}", "must be a list of objects")
    for field in ("initContainers", "volumes", "imagePullSecrets"):
        for j, item in enumerate(overlay.spec.get(field) or []):
            if isinstance(item, dict) and not item.get("name"):
                yield SpecError(f"{where}.spec.{field}[{j}].name", "is required (entries are merged by name)")
    for j, container in enumerate(overlay.spec.get("containers") or []):
        if not isinstance(container, dict):
            continue
        for k, env in enumerate(container.get("env") or []):
            name = env.get("name") if isinstance(env, dict) else None
            if not name:
                yield SpecError(f"{where}.spec.containers[{j}].env[{k}].name", "is required (env is merged by name)")
            elif name in _FORBIDDEN_ENV.get(group.vendor, ()):
                yield SpecError(
                    f"{where}.spec.containers[{j}].env[{k}].name",
                    f"{name} is set by the {group.vendor} device plugin for the devices it allocates; do not set it",
                )


def _flag_problems(arg: str, where: str) -> Iterator[SpecError]:
    flag = arg.split("=", 1)[0]
    if flag in RENDERED_VLLM_FLAGS:
        yield SpecError(where, f"{flag} is rendered from {RENDERED_VLLM_FLAGS[flag]}; set it there")


def _weight_problems(spec: HeteroInferencePoolSpec, groups: Mapping[str, int]) -> Iterator[SpecError]:
    static = spec.weights.static or {}
    for key in static:
        if key not in groups:
            yield SpecError(
                f"spec.weights.static[{key}]",
                f"no vendor group named {key!r}; groups: {', '.join(groups)}",
            )
    if spec.weights.mode == "static":
        missing = [g for g in groups if g not in static]
        if missing:
            yield SpecError("spec.weights.static", f"mode is static but no weight is given for {', '.join(missing)}")
        elif sum(static.values()) <= 0:
            yield SpecError("spec.weights.static", "static weights must not all be zero")
