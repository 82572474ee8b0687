"""Pool -> the Kubernetes objects that make it real (pure: no I/O, no cluster access).

One `expected_<kind>` function per child kind computes the values; the object's shape lives in
`templates/<kind>.yaml.j2`. Names are deterministic and fit Kubernetes' 63-character limits, so
the operator can find, compare and own every child by name.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import jinja2
import yaml

from heteropool.api import VendorGroup, parse_duration_s
from heteropool.routing import ROUTING_CONFIG_KEY, RoutingConfig, VendorRouting
from heteropool.semantics import Pool
from heteropool.vendors import HETEROPOOL_IMAGE, VendorProfile, group_prior_tokens_per_s, vendor_profile

__all__ = [
    "VLLM_PORT",
    "GATEWAY_PORT",
    "MANAGED_BY",
    "child_name",
    "pool_labels",
    "group_selector",
    "expected_objects",
    "expected_vllm_deployment",
    "expected_vllm_service",
    "expected_gateway_deployment",
    "expected_gateway_service",
    "expected_gateway_service_account",
    "expected_gateway_role",
    "expected_gateway_role_binding",
    "expected_routing_config",
    "expected_routing_configmap",
    "routing_configmap_name",
    "initial_weights",
    "to_yaml",
]

VLLM_PORT = 8000
GATEWAY_PORT = 8080
MANAGED_BY = "heteropool-operator"
_MAX_NAME = 63


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("heteropool", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


def _render(template: str, **values: Any) -> dict[str, Any]:
    text = _templates().get_template(template).render(**values)
    obj: dict[str, Any] = yaml.safe_load(text)
    return obj


def child_name(pool: str, *parts: str) -> str:
    """`<pool>-<parts...>`, shortened with a stable hash when it would exceed 63 characters."""
    full = "-".join((pool, *parts))
    if len(full) <= _MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: _MAX_NAME - len(digest) - 1].rstrip('-')}-{digest}"


def pool_labels(pool: Pool, component: str, **extra: str) -> dict[str, str]:
    """Labels on everything rendered for a pool (app.kubernetes.io/* and heteropool.dev/*)."""
    labels = {
        "app.kubernetes.io/name": "vllm" if component == "model-server" else f"heteropool-{component}",
        "app.kubernetes.io/instance": pool.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "heteropool",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "heteropool.dev/pool": pool.name,
    }
    labels.update(extra)
    return labels


def group_selector(pool: Pool, group: VendorGroup) -> dict[str, str]:
    """Selects one vendor group's pods; keys never change, as Deployment selectors are immutable."""
    return {
        "heteropool.dev/pool": pool.name,
        "app.kubernetes.io/component": "model-server",
        "heteropool.dev/group": group.group_name,
    }


def _gateway_selector(pool: Pool) -> dict[str, str]:
    return {"heteropool.dev/pool": pool.name, "app.kubernetes.io/component": "gateway"}


def _group_meta(pool: Pool, group: VendorGroup) -> dict[str, Any]:
    """Name, namespace, labels and selector shared by a vendor group's Deployment and Service."""
    return {
        "name": child_name(pool.name, "vllm", group.group_name),
        "namespace": pool.namespace,
        "labels": _group_labels(pool, group),
        "selector": group_selector(pool, group),
    }


def _group_labels(pool: Pool, group: VendorGroup) -> dict[str, str]:
    return pool_labels(
        pool,
        "model-server",
        **{"heteropool.dev/vendor": group.vendor, "heteropool.dev/group": group.group_name},
    )


# --- vLLM replicas ------------------------------------------------------------------------------


def _vllm_args(pool: Pool, group: VendorGroup, profile: VendorProfile) -> list[str]:
    model = pool.spec.model
    vllm = group.vllm
    block_size = vllm.block_size or profile.default_block_size
    if profile.is_simulator:
        args = ["--model", model.name, "--profile", group.accelerator or profile.default_accelerator]
    else:
        args = [model.name, "--tensor-parallel-size", str(group.accelerators_per_replica)]
    args += [
        "--served-model-name", model.effective_served_name,
        "--host", "0.0.0.0",
        "--port", str(VLLM_PORT),
        "--block-size", str(block_size),  # always explicit: the gateway's prefix index relies on it
    ]  # fmt: skip
    # Unset engine limits keep vLLM's per-hardware defaults (e.g. max-num-seqs 1024 on >= 70 GiB GPUs).
    # The simulator honours every engine flag below; only --revision is vLLM's alone.
    optional: list[tuple[str, Any]] = [
        ("--max-num-seqs", vllm.max_num_seqs),
        ("--max-num-batched-tokens", vllm.max_num_batched_tokens),
        ("--max-model-len", vllm.max_model_len or model.max_model_len),
        ("--gpu-memory-utilization", vllm.gpu_memory_utilization),
        ("--dtype", vllm.dtype),
        ("--kv-cache-dtype", vllm.kv_cache_dtype),
    ]
    if not profile.is_simulator:
        optional.append(("--revision", model.revision))
    for flag, value in optional:
        if value is not None:
            args += [flag, str(value)]
    if not vllm.enable_prefix_caching and not profile.is_simulator:
        args.append("--no-enable-prefix-caching")
    if not profile.is_simulator:
        args += [*model.extra_args, *vllm.extra_args]
    return args


def _vllm_env(pool: Pool, group: VendorGroup, profile: VendorProfile) -> list[dict[str, Any]]:
    env: dict[str, dict[str, Any]] = {}

    def put(name: str, value: str | None = None, value_from: Mapping[str, Any] | None = None) -> None:
        env[name] = {"name": name, **({"valueFrom": dict(value_from)} if value_from else {"value": value})}

    if not profile.is_simulator:
        put("HF_HOME", "/models")
        put("VLLM_NO_USAGE_STATS", "1")
        put("DO_NOT_TRACK", "1")
        token = pool.spec.model.hf_token_secret_ref
        if token is not None:
            put("HF_TOKEN", value_from={"secretKeyRef": {"name": token.name, "key": token.key}})
    for name, value in profile.env.items():
        put(name, value)
    roce = group.roce
    if roce is not None and roce.enabled and roce.networks:
        prefix = profile.collective_env_prefix
        put(f"{prefix}_SOCKET_IFNAME", roce.nccl.socket_ifname or f"={roce.networks[0].interface}")
        if prefix == "NCCL":
            if roce.nccl.ib_hca is not None:
                put("NCCL_IB_HCA", roce.nccl.ib_hca)
            if roce.nccl.gid_index is not None:
                put("NCCL_IB_GID_INDEX", str(roce.nccl.gid_index))
        else:
            put("GLOO_SOCKET_IFNAME", (roce.nccl.socket_ifname or roce.networks[0].interface).lstrip("="))
    for var in group.env:  # the user's word wins, by name
        put(var.name, var.value, var.value_from)
    return list(env.values())


def _vllm_resources(group: VendorGroup, profile: VendorProfile) -> dict[str, dict[str, Any]]:
    requests: dict[str, Any] = dict(profile.requests)
    limits: dict[str, Any] = dict(profile.limits)
    if profile.device_resource:
        requests[profile.device_resource] = limits[profile.device_resource] = group.accelerators_per_replica
    roce = group.roce
    if roce is not None and roce.enabled and roce.networks:
        name, count = roce.rdma_resource.name, roce.rdma_resource.count
        requests[name] = limits[name] = count
    requests.update(group.resources.requests)
    limits.update(group.resources.limits)
    # Hugepages and extended resources cannot be overcommitted: their requests must equal limits.
    for key, value in group.resources.limits.items():
        if key.startswith("hugepages-") or ("/" in key and not key.startswith("kubernetes.io/")):
            requests[key] = value
    return {"requests": _quantities(requests), "limits": _quantities(limits)}


def _quantities(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in sorted(values.items())}


def _vllm_security(group: VendorGroup, profile: VendorProfile) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod securityContext, container securityContext) for a vendor group."""
    if profile.is_simulator:
        pod = {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
        container = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        return pod, container
    capabilities = list(profile.capabilities)
    if group.roce is not None and group.roce.enabled and group.roce.networks:
        capabilities.append("IPC_LOCK")  # RDMA memory registration
    pod: dict[str, Any] = {}
    if profile.supplemental_groups:
        pod["supplementalGroups"] = list(profile.supplemental_groups)
    container: dict[str, Any] = {}
    if capabilities:
        container["capabilities"] = {"add": capabilities}
    if profile.seccomp_unconfined:
        container["seccompProfile"] = {"type": "Unconfined"}
    return pod, container


def _pod_annotations(group: VendorGroup) -> dict[str, str]:
    annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(VLLM_PORT),
        "prometheus.io/path": "/metrics",
    }
    roce = group.roce
    if roce is not None and roce.enabled and roce.networks:
        networks = [
            {"name": n.name, **({"namespace": n.namespace} if n.namespace else {}), "interface": n.interface}
            for n in roce.networks
        ]
        annotations["k8s.v1.cni.cncf.io/networks"] = json.dumps(networks, separators=(",", ":"))
    return annotations


def _tolerations(group: VendorGroup, profile: VendorProfile) -> list[dict[str, Any]]:
    # Accelerator nodes are commonly tainted with their device resource name.
    tolerations: list[dict[str, Any]] = []
    if profile.device_resource:
        tolerations.append({"key": profile.device_resource, "operator": "Exists", "effect": "NoSchedule"})
    tolerations += [t for t in group.tolerations if t not in tolerations]
    return tolerations


def expected_vllm_deployment(pool: Pool, group: VendorGroup) -> dict[str, Any]:
    profile = vendor_profile(group.vendor)
    pod_security, container_security = _vllm_security(group, profile)
    startup_s = parse_duration_s(group.startup_timeout) if group.startup_timeout else profile.startup_timeout_s
    volumes: list[dict[str, Any]] = [
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": group.shm_size or profile.shm_size}}
    ]
    mounts: list[dict[str, Any]] = [{"name": "shm", "mountPath": "/dev/shm"}]
    if not profile.is_simulator:
        cache = pool.spec.model.cache
        volumes.append(
            {"name": "model-cache", "persistentVolumeClaim": {"claimName": cache.claim_name}}
            if cache.claim_name
            else {"name": "model-cache", "emptyDir": {"sizeLimit": cache.size_limit}}
        )
        mounts.append({"name": "model-cache", "mountPath": "/models"})
    return _render(
        "vllm-deployment.yaml.j2",
        **_group_meta(pool, group),
        replicas=group.replicas,
        pod_annotations=_pod_annotations(group),
        host_ipc=profile.host_ipc,
        runtime_class_name=group.runtime_class_name,
        node_selector=dict(group.node_selector),
        affinity=group.affinity,
        tolerations=_tolerations(group, profile),
        image_pull_secrets=[{"name": s} for s in group.image_pull_secrets],
        pod_security_context=pod_security,
        image=group.image or profile.image,
        image_pull_policy=group.image_pull_policy,
        command=list(profile.command),
        args=_vllm_args(pool, group, profile),
        env=_vllm_env(pool, group, profile),
        resources=_vllm_resources(group, profile),
        container_security_context=container_security,
        volume_mounts=mounts,
        volumes=volumes,
        startup_failure_threshold=max(3, math.ceil(startup_s / 10)),
    )


def expected_vllm_service(pool: Pool, group: VendorGroup) -> dict[str, Any]:
    return _render(
        "vllm-service.yaml.j2",
        **_group_meta(pool, group),
    )


# --- gateway ------------------------------------------------------------------------------------


def _gateway_name(pool: Pool) -> str:
    return child_name(pool.name, "gateway")


def _gateway_meta(pool: Pool) -> dict[str, Any]:
    """Name, namespace and labels shared by every gateway object (Deployment, Service, SA, RBAC)."""
    return {"name": _gateway_name(pool), "namespace": pool.namespace, "labels": pool_labels(pool, "gateway")}


def expected_gateway_deployment(pool: Pool) -> dict[str, Any]:
    gateway = pool.spec.gateway
    env: list[dict[str, Any]] = [
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
    ]
    if gateway.api_key_secret_ref is not None:
        ref = gateway.api_key_secret_ref
        env.append(
            {"name": "HETEROPOOL_GATEWAY_API_KEY", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}
        )
    resources = {
        "requests": {"cpu": "500m", "memory": "256Mi", **gateway.resources.requests},
        "limits": {"memory": "1Gi", **gateway.resources.limits},
    }
    return _render(
        "gateway-deployment.yaml.j2",
        **_gateway_meta(pool),
        selector=_gateway_selector(pool),
        replicas=gateway.replicas,
        pod_annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(GATEWAY_PORT),
            "prometheus.io/path": "/metrics",
        },
        service_account=_gateway_name(pool),
        image=gateway.image or HETEROPOOL_IMAGE,
        image_pull_policy=gateway.image_pull_policy,
        args=[
            "gateway",
            "--host", "0.0.0.0",
            "--port", str(GATEWAY_PORT),
            "--kube-pool", pool.name,
            "--kube-namespace", "$(POD_NAMESPACE)",  # expanded by the kubelet from the env below
            "--kube-configmap", routing_configmap_name(pool),
        ],  # fmt: skip
        env=env,
        resources={kind: _quantities(values) for kind, values in resources.items()},
    )


def expected_gateway_service(pool: Pool) -> dict[str, Any]:
    return _render(
        "gateway-service.yaml.j2",
        **_gateway_meta(pool),
        selector=_gateway_selector(pool),
        service_type=pool.spec.gateway.service.type,
        port=pool.spec.gateway.service.port,
    )


def expected_gateway_service_account(pool: Pool) -> dict[str, Any]:
    return _render(
        "gateway-serviceaccount.yaml.j2",
        **_gateway_meta(pool),
    )


def expected_gateway_role(pool: Pool) -> dict[str, Any]:
    return _render(
        "gateway-role.yaml.j2",
        **_gateway_meta(pool),
        configmap=routing_configmap_name(pool),
    )


def expected_gateway_role_binding(pool: Pool) -> dict[str, Any]:
    return _render(
        "gateway-rolebinding.yaml.j2",
        **_gateway_meta(pool),
        role=_gateway_name(pool),
        service_account=_gateway_name(pool),
    )


# --- routing configuration ----------------------------------------------------------------------


def initial_weights(pool: Pool) -> dict[str, float]:
    """Each group's share of traffic before any metrics exist: static weights, else capacity priors.

    Shares sum to 1 over groups with replicas; a group scaled to zero gets 0.
    """
    spec = pool.spec
    raw: dict[str, float] = {}
    for group in spec.vendors:
        if group.replicas == 0:
            raw[group.group_name] = 0.0
        elif spec.weights.mode == "static" and spec.weights.static:
            raw[group.group_name] = spec.weights.static.get(group.group_name, 0.0)
        else:
            raw[group.group_name] = group.replicas * group_prior_tokens_per_s(group)
    total = sum(raw.values())
    return {name: (round(value / total, 4) if total > 0 else 0.0) for name, value in raw.items()}


def expected_routing_config(pool: Pool, live: RoutingConfig | None = None) -> RoutingConfig:
    """The routing document for the spec; what the weight loop learned in `live` is kept.

    Without `live` (first publication) weights come from priors or the static weights. In auto
    mode, a live document the weight loop has written (generation > 0) keeps its weights,
    capacities and endpoint entries for groups that still exist, so re-applying the spec never
    resets them to priors; shares are renormalised over the groups that remain.
    """
    config = _initial_routing_config(pool)
    if live is None or live.generation == 0 or pool.spec.weights.mode != "auto":
        return config
    learned = {
        name: config.vendors[name].model_copy(
            update={"weight": live.vendors[name].weight, "capacity_tokens_per_s": live.vendors[name].capacity_tokens_per_s}
        )
        for name in config.vendors
        if name in live.vendors
    }
    if not learned:
        return config
    vendors = {name: learned.get(name, routing) for name, routing in config.vendors.items()}
    total = sum(v.weight for v in vendors.values())
    if total > 0:
        vendors = {name: v.model_copy(update={"weight": round(v.weight / total, 4)}) for name, v in vendors.items()}
    return config.model_copy(
        update={
            "vendors": vendors,
            "generation": live.generation,
            "updated_at": live.updated_at,
            "endpoints": [e for e in live.endpoints if e.vendor in vendors],
        }
    )


def _initial_routing_config(pool: Pool) -> RoutingConfig:
    weights = initial_weights(pool)
    vendors = {
        group.group_name: VendorRouting(
            weight=weights[group.group_name],
            capacity_tokens_per_s=group_prior_tokens_per_s(group),
            block_size=group.vllm.block_size or vendor_profile(group.vendor).default_block_size,
            service=child_name(pool.name, "vllm", group.group_name),
            vendor=group.vendor,
        )
        for group in pool.spec.vendors
    }
    routing = pool.spec.gateway.routing
    return RoutingConfig(
        pool=pool.name,
        model=pool.spec.model.effective_served_name,
        policy=routing.policy,
        parameters=dict(routing.parameters),
        generation=0,
        vendors=vendors,
    )


def routing_configmap_name(pool: Pool) -> str:
    return child_name(pool.name, "routing")


def expected_routing_configmap(pool: Pool, config: RoutingConfig | None = None) -> dict[str, Any]:
    document = (config or expected_routing_config(pool)).model_dump(mode="json", by_alias=True, exclude_none=True)
    return _render(
        "routing-configmap.yaml.j2",
        name=routing_configmap_name(pool),
        namespace=pool.namespace,
        labels=pool_labels(pool, "routing"),
        key=ROUTING_CONFIG_KEY,
        document=yaml.safe_dump(document, sort_keys=False),
    )


# --- everything ---------------------------------------------------------------------------------


def expected_objects(pool: Pool, routing: RoutingConfig | None = None) -> list[dict[str, Any]]:
    """Every child object of a pool, in apply order (config and RBAC before workloads)."""
    objects: list[dict[str, Any]] = [
        expected_routing_configmap(pool, routing),
        expected_gateway_service_account(pool),
        expected_gateway_role(pool),
        expected_gateway_role_binding(pool),
    ]
    for group in pool.spec.vendors:
        objects += [expected_vllm_service(pool, group), expected_vllm_deployment(pool, group)]
    objects += [expected_gateway_service(pool), expected_gateway_deployment(pool)]
    return objects


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    """Multi-document YAML, as `kubectl apply -f -` and GitOps diffs expect."""
    return yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False, explicit_start=True)
