"""The HeteroInferencePool API: pydantic models of spec and status, the one source of the CRD schema.

Field descriptions become the CRD's descriptions (`kubectl explain hip.spec...`), constraints become
schema enums, ranges and patterns, and cross-field rules are written once here as CEL
(`x-kubernetes-validations`) and, where the operator must also judge them, in `semantics.py`.
Defaults live in these models, not in the CRD, so stored objects stay exactly as users wrote them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonValue

from heteropool.names import DEFAULT_POLICY, PolicyName

__all__ = [
    "GROUP",
    "VERSION",
    "KIND",
    "PLURAL",
    "SINGULAR",
    "SHORT_NAMES",
    "VENDOR_NAMES",
    "DURATION_PATTERN",
    "Duration",
    "SecretKeyRef",
    "ModelCache",
    "ModelSpec",
    "EnvVar",
    "ResourceRequirements",
    "VllmArgs",
    "MultusNetwork",
    "RdmaResource",
    "NcclSettings",
    "RoceSpec",
    "PodTemplateMetadata",
    "PodTemplateOverlay",
    "DisruptionBudgetSpec",
    "AUTOSCALING_SIGNALS",
    "AutoscalingSpec",
    "SimulatorSpec",
    "VendorGroup",
    "PeerPods",
    "NetworkPolicySpec",
    "GatewayServiceSpec",
    "RoutingSpec",
    "GatewaySpec",
    "WeightsSpec",
    "HeteroInferencePoolSpec",
    "Condition",
    "VendorStatus",
    "AutoscalingStatus",
    "GatewayStatus",
    "HeteroInferencePoolStatus",
    "parse_duration_s",
]

GROUP = "heteropool.dev"
VERSION = "v1alpha1"
KIND = "HeteroInferencePool"
PLURAL = "heteroinferencepools"
SINGULAR = "heteroinferencepool"
SHORT_NAMES = ("hip",)

VendorName = Literal["nvidia", "amd", "intel-gaudi", "sim"]
VENDOR_NAMES: tuple[str, ...] = ("nvidia", "amd", "intel-gaudi", "sim")
"""Vendors this version renders; adding one means a profile in vendors.py and a name here."""

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, max_length=32, json_schema_extra={"example": "15s"}),
]
"""A Go-style duration such as `15s`, `2m`, `1h30m` or `500ms`."""

DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Namespace = Annotated[str, Field(min_length=1, max_length=63, pattern=NAMESPACE_PATTERN)]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""An RFC 3339 time, as Kubernetes writes them (2026-01-02T03:04:05Z)."""

QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
"""Kubernetes' resource quantity grammar (`500m`, `64Gi`, `1.5`, `2e3`), as the API server parses it."""


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, str) and not re.fullmatch(QUANTITY_PATTERN, value):
        raise ValueError(f"not a Kubernetes quantity (e.g. 500m, 8, 64Gi, 1.5): {value!r}")
    return value


ResourceQuantity = Annotated[
    int | str,
    AfterValidator(_check_quantity),
    Field(json_schema_extra={"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN}),
]
"""A resource quantity: an integer, or a string in Kubernetes' quantity grammar."""

QuantityValue = Annotated[int | str, Field(json_schema_extra={"x-kubernetes-int-or-string": True})]


def parse_duration_s(text: str) -> float:
    """Seconds in a Go-style duration (`1h30m` -> 5400.0).

    Raises:
        ValueError: the text is not a duration of ms/s/m/h parts.
    """
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration (use e.g. 15s, 2m, 1h30m): {text!r}")
    return sum(
        float(number) * _DURATION_UNITS_S[unit] for number, unit in re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)", text)
    )


class _CelRule(NamedTuple):
    """One cross-field rule the API server checks on admission (an `x-kubernetes-validations` entry)."""

    rule: str
    message: str
    field: str | None = None


def _cel_rules(*rules: _CelRule) -> ConfigDict:
    """A model config carrying CEL rules into the model's JSON schema, hence into the CRD."""
    entries: list[JsonValue] = [
        {"rule": r.rule, "message": r.message, **({"fieldPath": r.field} if r.field else {})} for r in rules
    ]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": entries})


class _Spec(BaseModel):
    """Base of every API model: camelCase on the wire, unknown fields rejected, and strict types:
    `"8"` is not an integer and `true` is not a number, as the CRD's schema sees them."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, strict=True)


# --- model --------------------------------------------------------------------------------------


class SecretKeyRef(_Spec):
    name: str = Field(min_length=1, max_length=253, description="Name of a Secret in the pool's namespace.")
    key: str = Field("token", min_length=1, max_length=253, description="Key in the Secret. Default: token.")


class ModelCache(_Spec):
    claim_name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        description="PersistentVolumeClaim holding the Hugging Face cache; an emptyDir when unset.",
    )
    size_limit: str = Field(
        "100Gi", pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti)?$", description="emptyDir size limit. Default: 100Gi."
    )


class ModelSpec(_Spec):
    name: str = Field(
        min_length=1,
        max_length=256,
        description="Model to serve: a Hugging Face id (ibm-granite/granite-4.1-8b) or a path in the cache.",
    )
    served_name: str | None = Field(
        None, min_length=1, max_length=256, description="Name clients ask for (--served-model-name). Default: name."
    )
    revision: str | None = Field(
        None, min_length=1, max_length=128, description="Model revision (branch, tag or commit)."
    )
    hf_token_secret_ref: SecretKeyRef | None = Field(
        None, description="Secret key holding a Hugging Face token, passed as HF_TOKEN."
    )
    max_model_len: int | None = Field(None, ge=16, le=10_485_760, description="--max-model-len for every replica.")
    extra_args: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="vLLM arguments added to every replica, after the rendered ones.",
    )
    cache: ModelCache = Field(default_factory=ModelCache, description="Where model weights are cached.")

    @property
    def effective_served_name(self) -> str:
        return self.served_name or self.name


# --- vendor groups ------------------------------------------------------------------------------


class EnvVar(_Spec):
    name: str = Field(min_length=1, max_length=256, pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
    value: str | None = Field(None, description="Literal value.")
    value_from: dict[str, Any] | None = Field(
        None, description="A Kubernetes EnvVarSource (secretKeyRef, fieldRef, ...)."
    )


class ResourceRequirements(_Spec):
    requests: dict[str, ResourceQuantity] = Field(default_factory=dict, description="Merged over the vendor defaults.")
    limits: dict[str, ResourceQuantity] = Field(default_factory=dict, description="Merged over the vendor defaults.")


class VllmArgs(_Spec):
    block_size: Literal[8, 16, 32, 64, 128, 256] | None = Field(
        None, description="--block-size (tokens per KV block). Default: the vendor's (16 on GPUs, 128 on Gaudi)."
    )
    max_num_seqs: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="--max-num-seqs. Default: vLLM's for the hardware (1024 on >= 70 GiB GPUs, else 256).",
    )
    max_num_batched_tokens: int | None = Field(None, ge=16, le=1_048_576, description="--max-num-batched-tokens.")
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="--gpu-memory-utilization, a fraction of device memory (0, 1]."
    )
    enable_prefix_caching: bool = Field(True, description="--enable-prefix-caching. Default: true.")
    kv_cache_dtype: Literal["auto", "fp8", "fp8_e4m3", "fp8_e5m2"] | None = Field(None, description="--kv-cache-dtype.")
    max_model_len: int | None = Field(
        None, ge=16, le=10_485_760, description="--max-model-len for this group. Default: spec.model.maxModelLen."
    )
    dtype: Literal["auto", "bfloat16", "float16", "half"] | None = Field(
        None, description="--dtype of weights and activations. Default: auto (the checkpoint's)."
    )
    extra_args: list[str] = Field(
        default_factory=list, max_length=64, description="Further vLLM arguments for this group."
    )


class MultusNetwork(_Spec):
    name: str = Field(min_length=1, max_length=253, description="NetworkAttachmentDefinition name.")
    namespace: str | None = Field(None, min_length=1, max_length=63, description="Its namespace, if not the pool's.")
    interface: str = Field(
        min_length=1,
        max_length=15,
        pattern=r"^[a-zA-Z0-9_.-]+$",
        description="Interface name inside the pod (net1, ...).",
    )


class RdmaResource(_Spec):
    name: str = Field(
        "rdma/rdma_shared_device_a",
        min_length=3,
        max_length=253,
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$",
        description="Device-plugin resource of the RDMA NIC (rdma/rdma_shared_device_a, amd.com/nic, ...).",
    )
    count: int = Field(1, ge=1, le=64, description="How many of it each replica requests.")


class NcclSettings(_Spec):
    ib_hca: str | None = Field(None, max_length=512, description="NCCL_IB_HCA, e.g. mlx5_0,mlx5_1 or =ionic_0.")
    gid_index: int | None = Field(
        None, ge=0, le=255, description="NCCL_IB_GID_INDEX (fabric-specific: 3 on mlx5 RoCEv2, 1 on AMD Pollara)."
    )
    socket_ifname: str | None = Field(
        None, max_length=256, description="NCCL_SOCKET_IFNAME. Default: =<first network's interface>."
    )


class RoceSpec(_Spec):
    model_config = _cel_rules(
        _CelRule(
            "(has(self.enabled) && !self.enabled) || (has(self.networks) && self.networks.size() > 0)",
            "roce.networks must list at least one Multus network when roce is enabled",
            field=".networks",
        ),
    )

    enabled: bool = Field(True, description="Render the RoCE parts. Default: true when the block is present.")
    networks: list[MultusNetwork] = Field(
        default_factory=list, max_length=16, description="Multus networks attached to each replica (JSON annotation)."
    )
    rdma_resource: RdmaResource = Field(default_factory=RdmaResource, description="RDMA device resource to request.")
    nccl: NcclSettings = Field(default_factory=NcclSettings, description="Collective-library (NCCL/RCCL) settings.")


class PodTemplateMetadata(_Spec):
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Pod labels added to the rendered ones; the selector labels cannot be changed.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Pod annotations added to (and overriding) the rendered ones."
    )


class PodTemplateOverlay(_Spec):
    """A PodTemplateSpec merged over the rendered pod template (rules: docs/platform.md, "podTemplate")."""

    metadata: PodTemplateMetadata = Field(default_factory=PodTemplateMetadata, description="Labels and annotations.")
    spec: dict[str, Any] = Field(
        default_factory=dict,
        description="PodSpec fields merged over the rendered ones: maps merge by key, containers, volumes and "
        "imagePullSecrets by name, env by name, volumeMounts by mountPath, tolerations are added, "
        "anything else replaces.",
    )


class DisruptionBudgetSpec(_Spec):
    model_config = _cel_rules(
        _CelRule(
            "!(has(self.maxUnavailable) && has(self.minAvailable))",
            "set maxUnavailable or minAvailable, not both",
        ),
    )

    enabled: bool = Field(True, description="Render the PodDisruptionBudget. Default: true.")
    max_unavailable: QuantityValue | None = Field(
        None, description="Replicas (or a percentage) a voluntary disruption may take down at once. Default: 1."
    )
    min_available: QuantityValue | None = Field(
        None,
        description="Replicas (or a percentage) that must stay up during voluntary disruptions "
        "(instead of maxUnavailable).",
    )


AUTOSCALING_SIGNALS: tuple[str, ...] = ("waitingRequests", "kvCacheUsage", "capacityShare")
"""What an autoscaled group scales on; docs/platform.md says what each needs in the cluster."""


class AutoscalingSpec(_Spec):
    model_config = _cel_rules(
        _CelRule(
            "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
            "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
            field=".minReplicas",
        ),
    )

    min_replicas: int = Field(1, ge=1, le=512, description="Fewest replicas the autoscaler keeps. Default: 1.")
    max_replicas: int = Field(ge=1, le=512, description="Most replicas the autoscaler may run.")
    signal: Literal["waitingRequests", "kvCacheUsage", "capacityShare"] = Field(
        "waitingRequests",
        description="What to scale on: waitingRequests (vllm:num_requests_waiting per replica), kvCacheUsage "
        "(vllm:kv_cache_usage_perc per replica) or capacityShare (the group's load over its estimated capacity, "
        "from the operator). Default: waitingRequests.",
    )
    target: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="Target value of the signal: waiting requests per replica (default 4), KV usage 0..1 "
        "(default 0.8) or load over capacity (default 0.8).",
    )

    @property
    def effective_target(self) -> float:
        return self.target if self.target is not None else {"waitingRequests": 4.0}.get(self.signal, 0.8)


class SimulatorSpec(_Spec):
    admin_api: bool = Field(
        False, description="Serve the simulator's POST /admin/config (slow-down and fault knobs). Default: false."
    )


class VendorGroup(_Spec):
    model_config = _cel_rules(
        _CelRule(
            "self.vendor != 'sim' || !has(self.roce)",
            "roce is not available for the sim vendor",
            field=".roce",
        ),
        _CelRule(
            "self.vendor == 'sim' || !has(self.simulator)",
            "simulator settings apply to the sim vendor only",
            field=".simulator",
        ),
    )

    name: str | None = Field(
        None,
        min_length=1,
        max_length=24,
        pattern=DNS_LABEL_PATTERN,
        description="Group name, unique in the pool; names the rendered objects. Default: the vendor.",
    )
    vendor: VendorName = Field(description="Accelerator vendor: nvidia, amd, intel-gaudi, or sim (CPU simulator).")
    accelerator: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        pattern=r"^[a-z0-9][-a-z0-9]*$",
        description="Accelerator model (h100-nvl, mi325x, gaudi3, ...): the capacity prior, and the profile a sim "
        "group emulates.",
    )
    replicas: int = Field(
        1, ge=0, le=512, description="vLLM replicas of this group (ignored while autoscaling is set). Default: 1."
    )
    accelerators_per_replica: int = Field(
        1, ge=1, le=16, description="Devices per replica; also --tensor-parallel-size. Default: 1."
    )
    image: str | None = Field(
        None, min_length=1, max_length=512, description="Container image. Default: the vendor's vLLM image."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(None, description="Image pull policy.")
    image_pull_secrets: list[str] = Field(
        default_factory=list, max_length=16, description="Secrets for pulling the image."
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node labels the replicas require.")
    affinity: dict[str, Any] | None = Field(None, description="A Kubernetes Affinity for the replicas.")
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, max_length=32, description="Tolerations added to the vendor's defaults."
    )
    resources: ResourceRequirements = Field(
        default_factory=ResourceRequirements, description="Requests and limits merged over the vendor defaults."
    )
    env: list[EnvVar] = Field(
        default_factory=list, max_length=128, description="Environment added to (and overriding) the vendor's."
    )
    vllm: VllmArgs = Field(default_factory=VllmArgs, description="vLLM engine arguments for this group.")
    roce: RoceSpec | None = Field(None, description="RoCE/RDMA networking for multi-node collectives and KV transfer.")
    startup_timeout: Duration | None = Field(
        None, description="How long a replica may take to start (the startupProbe budget). Default: the vendor's."
    )
    shm_size: str | None = Field(
        None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi)?$", description="/dev/shm size. Default: the vendor's."
    )
    runtime_class_name: str | None = Field(
        None, min_length=1, max_length=253, description="Pod RuntimeClass (e.g. nvidia)."
    )
    pod_template: PodTemplateOverlay | None = Field(
        None, description="Pod template overlay merged over what the vendor profile and the fields above render."
    )
    disruption_budget: DisruptionBudgetSpec = Field(
        default_factory=DisruptionBudgetSpec, description="The group's PodDisruptionBudget. Default: maxUnavailable 1."
    )
    autoscaling: AutoscalingSpec | None = Field(
        None,
        description="Scale the group with a HorizontalPodAutoscaler (or a KEDA ScaledObject); the operator then "
        "leaves the Deployment's replicas to it.",
    )
    simulator: SimulatorSpec | None = Field(None, description="Settings of sim replicas.")

    @property
    def group_name(self) -> str:
        return self.name or self.vendor

    @property
    def planned_replicas(self) -> int:
        """Replicas the spec asks for: the autoscaler's minimum when it owns the count."""
        return self.autoscaling.min_replicas if self.autoscaling is not None else self.replicas


# --- gateway and weights ------------------------------------------------------------------------


class GatewayServiceSpec(_Spec):
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="Service type. Default: ClusterIP."
    )
    port: int = Field(80, ge=1, le=65535, description="Service port. Default: 80.")


class ObjectiveSpec(_Spec):
    """A kind of request and its priority; requests name it in the `x-gateway-inference-objective` header."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Objective name, the header's value (as an InferenceObjective's metadata.name).",
    )
    priority: int = Field(
        0,
        description="Higher is more important. Above 0: latency-sensitive (sent where the first token comes "
        "soonest); below 0: fills spare capacity, slow hardware first, and waits or is refused (429) before it "
        "delays higher priorities. Default: 0.",
    )


class RoutingSpec(_Spec):
    policy: PolicyName = Field(
        DEFAULT_POLICY,
        description="Routing policy: heteropool (cache-, load- and capacity-aware; default), llm-d, least-request, "
        "round-robin.",
    )
    parameters: dict[str, int | float | str | bool] = Field(
        default_factory=dict,
        description="Policy parameters; the gateway rejects unknown ones by name.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    objectives: list[ObjectiveSpec] = Field(
        default_factory=list,
        max_length=64,
        description="Request objectives and their priorities (docs/priority.md). In Gateway mode an "
        "InferenceObjective of the pool's InferencePool with the same name wins.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    default_priority: int = Field(
        0, description="Priority of requests that name no objective, or one not declared. Default: 0."
    )


class EnvoySpec(_Spec):
    """The Envoy proxy that carries every request (the data plane clients connect to)."""

    image: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Envoy image. Default: the pinned official image (docs/install.md).",
    )
    resources: ResourceRequirements | None = Field(
        None, description="Envoy container resources. Default: gateway.resources, else 500m CPU / 256Mi."
    )
    request_body_mode: Literal["Buffered", "FullDuplexStreamed"] = Field(
        "Buffered",
        description="How Envoy hands the request body to the picker: Buffered (default) or FullDuplexStreamed.",
    )
    pod_template: PodTemplateOverlay | None = Field(None, description="Pod template overlay for the Envoy pods.")
    disruption_budget: DisruptionBudgetSpec = Field(
        default_factory=DisruptionBudgetSpec,
        description="The Envoy pods' PodDisruptionBudget (standalone mode). Default: maxUnavailable 1.",
    )


class PickerTlsSpec(_Spec):
    model_config = _cel_rules(
        _CelRule(
            "!has(self.mode) || self.mode != 'Secret' || has(self.secretName)",
            "tls.secretName is required when tls.mode is Secret",
            field=".secretName",
        ),
    )

    mode: Literal["SelfSigned", "Secret", "Disabled"] = Field(
        "SelfSigned",
        description="TLS on the picker's gRPC port: SelfSigned (default; a certificate made at start-up, what "
        "gateways that expect TLS there accept), Secret (secretName's tls.crt/tls.key) or Disabled (h2c).",
    )
    secret_name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        description="A kubernetes.io/tls Secret in the pool's namespace (mode Secret).",
    )


class PickerSpec(_Spec):
    """The Endpoint Picker (`heteropool epp`) Envoy asks for every request's replica."""

    replicas: int = Field(1, ge=0, le=8, description="Picker replicas. Default: 1.")
    image: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="Picker image. Default: gateway.image, else the heteropool image.",
    )
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    failure_mode: Literal["FailOpen", "FailClose"] = Field(
        "FailClose",
        description="When the picker cannot be reached: FailClose (default) answers an error, FailOpen lets Envoy "
        "pick a replica itself (least-request).",
    )
    tls: PickerTlsSpec = Field(default_factory=PickerTlsSpec, description="TLS on the picker's gRPC port.")
    pod_template: PodTemplateOverlay | None = Field(None, description="Pod template overlay for the picker pods.")
    disruption_budget: DisruptionBudgetSpec = Field(
        default_factory=DisruptionBudgetSpec,
        description="The picker pods' PodDisruptionBudget. Default: maxUnavailable 1.",
    )


class ParentRef(_Spec):
    """A Gateway (Gateway API `parentRefs` style) whose routes reach this pool."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Gateway.")
    namespace: Namespace | None = Field(None, description="Namespace of the Gateway. Default: the pool's.")
    section_name: str | None = Field(
        None, min_length=1, max_length=253, description="Listener of the Gateway to attach to. Default: all."
    )


class GatewaySpec(_Spec):
    """The data plane: Envoy (`replicas`, `service`, `envoy`) asking the picker (`picker`, `routing`), or,
    with `parentRefs`, the platform's own Gateway asking the picker through an InferencePool."""

    replicas: int = Field(2, ge=0, le=64, description="Envoy replicas. Default: 2.")
    image: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="The heteropool image the picker runs (kept for pools written before the picker had its own "
        "field; picker.image wins). Default: the heteropool image.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(None)
    service: GatewayServiceSpec = Field(default_factory=GatewayServiceSpec)
    routing: RoutingSpec = Field(default_factory=RoutingSpec)
    resources: ResourceRequirements = Field(
        default_factory=ResourceRequirements, description="Envoy container resources (envoy.resources wins)."
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret key holding a bearer token clients must send (checked by the picker); none when unset.",
    )
    envoy: EnvoySpec = Field(default_factory=EnvoySpec)
    picker: PickerSpec = Field(default_factory=PickerSpec)
    parent_refs: list[ParentRef] = Field(
        default_factory=list,
        max_length=16,
        description="Gateway mode: the platform's Gateways (Gateway API) that route to this pool. The operator "
        "then renders an InferencePool and an HTTPRoute instead of its own Envoy; replicas, service and envoy "
        "are unused. Default: none (standalone: the pool runs its own Envoy).",
    )

    @property
    def gateway_mode(self) -> bool:
        """True when the platform's Gateway is the data plane (an InferencePool), not the pool's own Envoy."""
        return bool(self.parent_refs)


class PeerPods(_Spec):
    namespace: Namespace = Field(description="Namespace of the pods.")
    pod_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels the pods carry (all of them). Default: every pod of the namespace."
    )


class NetworkPolicySpec(_Spec):
    enabled: bool = Field(
        True, description="Render a NetworkPolicy that admits to vLLM pods only the listed clients. Default: true."
    )
    gateway_pods: list[PeerPods] = Field(
        default_factory=list,
        max_length=16,
        description="The platform's Gateway pods (Gateway API mode) that reach vLLM pods directly.",
    )
    monitoring_namespaces: list[Namespace] | None = Field(
        None,
        max_length=16,
        description="Namespaces whose pods may scrape vLLM /metrics. Default: the operator's setting (monitoring).",
    )


class WeightsSpec(_Spec):
    model_config = _cel_rules(
        _CelRule(
            "!has(self.mode) || self.mode != 'static' || (has(self.static) && self.static.size() > 0)",
            "weights.static must give a weight per vendor group when mode is static",
            field=".static",
        ),
    )

    mode: Literal["auto", "static"] = Field(
        "auto", description="auto: rewritten from observed capacity; static: the weights below. Default: auto."
    )
    interval: Duration = Field("15s", description="How often metrics are scraped and weights recomputed. Default: 15s.")
    floor: float = Field(
        0.02, ge=0, le=0.5, description="Minimum share of a vendor group with ready replicas. Default: 0.02."
    )
    max_step: float = Field(
        0.25, gt=0, le=1, description="Largest relative change of a weight per interval (damping). Default: 0.25."
    )
    static: dict[str, float] | None = Field(
        None, description="Weight per vendor group name (relative; normalised) used when mode is static."
    )


class HeteroInferencePoolSpec(_Spec):
    model_config = _cel_rules(
        _CelRule(
            "self.vendors.all(a, self.vendors.exists_one(b, "
            "(has(b.name) ? b.name : b.vendor) == (has(a.name) ? a.name : a.vendor)))",
            "vendor group names must be unique (set vendors[].name when a vendor appears twice)",
            field=".vendors",
        ),
    )

    model: ModelSpec = Field(description="The model every replica serves.")
    vendors: list[VendorGroup] = Field(
        min_length=1, max_length=16, description="Vendor groups: one vLLM Deployment and Service each."
    )
    gateway: GatewaySpec = Field(default_factory=GatewaySpec, description="The routing gateway in front of all groups.")
    weights: WeightsSpec = Field(default_factory=WeightsSpec, description="How routing weights are set.")
    network_policy: NetworkPolicySpec = Field(
        default_factory=NetworkPolicySpec, description="Who may connect to the vLLM pods (a NetworkPolicy)."
    )


# --- status -------------------------------------------------------------------------------------


class _Status(BaseModel):
    """Status is written by the operator only: unknown keys are ignored when read, not rejected."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class Condition(_Status):
    type: str = Field(min_length=1, max_length=316, description="Ready, Progressing, Degraded or MetricsStale.")
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field("", max_length=32768)
    last_transition_time: DateTime = Field(description="RFC 3339 time the status last changed.")
    observed_generation: int | None = Field(None, ge=0)


class AutoscalingStatus(_Status):
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=0)
    desired_replicas: int = Field(
        0, ge=0, description="Replicas the autoscaler asks for (the Deployment's spec.replicas)."
    )
    current_replicas: int = Field(0, ge=0, description="Replicas that exist now (the Deployment's status.replicas).")


class VendorStatus(_Status):
    name: str = Field(description="Vendor group name.")
    vendor: str
    desired_replicas: int = Field(0, ge=0)
    ready_replicas: int = Field(0, ge=0)
    autoscaling: AutoscalingStatus | None = Field(
        None, description="Set while an autoscaler owns the group's replica count."
    )
    weight: float | None = Field(None, ge=0, description="Current share of traffic (0..1).")
    capacity_tokens_per_s: float | None = Field(None, ge=0, description="Estimated output tokens/s of one replica.")
    observed_tokens_per_s: float | None = Field(
        None, ge=0, description="Output tokens/s the group served last interval."
    )
    last_scrape_time: DateTime | None = None
    stale: bool | None = Field(None, description="True while the estimate rests on old or failed scrapes.")


class GatewayParentStatus(_Status):
    name: str = Field(description="The Gateway's name.")
    namespace: str = Field(description="The Gateway's namespace.")
    route_accepted: bool = Field(
        False, description="The Gateway accepted the pool's HTTPRoute (and resolved its backend)."
    )
    inference_pool_accepted: bool = Field(False, description="The Gateway accepted the pool's InferencePool.")
    message: str | None = Field(None, description="What the Gateway has not accepted yet, and why, as it reported.")


class GatewayStatus(_Status):
    desired_replicas: int = Field(0, ge=0, description="Envoy replicas asked for.")
    ready_replicas: int = Field(0, ge=0, description="Envoy replicas ready.")
    picker_desired_replicas: int = Field(0, ge=0, description="Endpoint Picker replicas asked for.")
    picker_ready_replicas: int = Field(0, ge=0, description="Endpoint Picker replicas ready.")
    service: str | None = Field(None, description="Service name clients connect to.")
    parents: list[GatewayParentStatus] = Field(
        default_factory=list,
        description="Gateway mode: per Gateway in parentRefs, what it accepted (read from the HTTPRoute's and "
        "InferencePool's status).",
    )


class HeteroInferencePoolStatus(_Status):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    observed_generation: int | None = Field(None, ge=0, description="The generation the status describes.")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    vendors: list[VendorStatus] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    gateway: GatewayStatus | None = None
    replicas: str | None = Field(None, description="ready/desired vLLM replicas over all groups (for kubectl get).")
    vendor_summary: str | None = Field(None, description="Vendor groups, comma-separated (for kubectl get).")
    weight_summary: str | None = Field(None, description="group=weight pairs (for kubectl get).")
    throughput_tokens_per_s: int | None = Field(None, ge=0, description="Output tokens/s of the whole pool.")
