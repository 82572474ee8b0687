"""One profile per accelerator vendor: what differs between a CUDA, a ROCm and a Gaudi vLLM pod.

What each profile sets and where the facts come from: docs/platform.md ("Vendor profiles"). Everything a
renderer needs to know about a vendor is here, so adding a vendor (intel-xpu, google-tpu) is one
profile plus its name in `api.VENDOR_NAMES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heteropool.api import VendorGroup

__all__ = [
    "HETEROPOOL_IMAGE",
    "VendorProfile",
    "VENDOR_PROFILES",
    "ACCELERATOR_CAPACITY_TOKENS_PER_S",
    "vendor_profile",
    "prior_capacity_tokens_per_s",
    "group_prior_tokens_per_s",
    "ACCELERATOR_PREFILL_TOKENS_PER_S",
    "prior_prefill_tokens_per_s",
    "group_prior_prefill_tokens_per_s",
]

HETEROPOOL_IMAGE = "ghcr.io/heteropool/heteropool:0.1.0"
"""The project's one image (operator, gateway and the `sim` replica)."""

VLLM_VERSION = "v0.25.0"


@dataclass(frozen=True, slots=True)
class VendorProfile:
    """Rendering facts of one vendor; rendered values are overridable per vendor group."""

    vendor: str
    image: str
    accelerators: tuple[str, ...]
    default_accelerator: str
    device_resource: str | None
    default_block_size: int
    startup_timeout_s: int
    shm_size: str
    command: tuple[str, ...] = ("vllm", "serve")
    host_ipc: bool = False
    capabilities: Mapping[str, str] = field(default_factory=dict)
    """Linux capabilities added back after dropping ALL, each with the reason it is needed."""
    seccomp_unconfined: bool = False
    supplemental_groups: tuple[int, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)
    collective_env_prefix: str = "NCCL"
    is_simulator: bool = False
    drain_delay_s: int = 20
    """preStop sleep: the pod is already out of the EndpointSlices, so the data plane stops routing to
    it while requests it holds finish; vLLM gets SIGTERM only after this."""
    shutdown_grace_s: int = 40
    """Time vLLM has after SIGTERM before it is killed (terminationGracePeriodSeconds = delay + this)."""


_NVIDIA = VendorProfile(
    vendor="nvidia",
    image=f"vllm/vllm-openai:{VLLM_VERSION}",
    accelerators=("h100-nvl", "h100-sxm"),
    default_accelerator="h100-nvl",
    device_resource="nvidia.com/gpu",
    default_block_size=16,
    startup_timeout_s=20 * 60,
    shm_size="8Gi",
    requests={"cpu": "4", "memory": "32Gi"},
    limits={"memory": "64Gi"},
)

_AMD = VendorProfile(
    vendor="amd",
    image=f"vllm/vllm-openai-rocm:{VLLM_VERSION}",
    accelerators=("mi300x", "mi325x"),
    default_accelerator="mi300x",
    device_resource="amd.com/gpu",
    default_block_size=16,
    startup_timeout_s=30 * 60,
    shm_size="16Gi",
    host_ipc=True,
    # ROCm's inter-process device memory sharing (hipIpc, RCCL between TP ranks) uses ptrace-class
    # access to peer processes' memory; the same reason AMD's docs pass --cap-add=SYS_PTRACE.
    capabilities={"SYS_PTRACE": "ROCm/RCCL read peer processes' device memory (hipIpc) between tensor-parallel ranks"},
    seccomp_unconfined=True,
    supplemental_groups=(44,),  # video: access to /dev/kfd and /dev/dri
    # No HIP_/CUDA_VISIBLE_DEVICES: the device plugin restricts devices and vLLM asserts they match.
    requests={"cpu": "4", "memory": "32Gi"},
    limits={"memory": "64Gi"},
)

_GAUDI = VendorProfile(
    vendor="intel-gaudi",
    # Habana publishes this image only as `latest` under a versioned path (Gaudi SW 1.24.1, vLLM
    # 0.26.0, PyTorch 2.11.0): the path pins the release; pin a digest with `--image intel-gaudi=...`.
    image="vault.habana.ai/gaudi-docker/1.24.1/ubuntu24.04/habanalabs/vllm-0.26.0-ptupstream-2.11.0:latest",
    accelerators=("gaudi2", "gaudi3"),
    default_accelerator="gaudi3",
    device_resource="habana.ai/gaudi",
    default_block_size=128,
    # Graph warm-up can take far longer than a GPU start; the startupProbe budget follows.
    startup_timeout_s=120 * 60,
    shm_size="16Gi",
    host_ipc=True,
    capabilities={"SYS_NICE": "the Habana runtime raises thread priorities and binds memory to NUMA nodes"},
    # No HABANA_VISIBLE_DEVICES: the device plugin injects the allocated modules.
    env={"OMPI_MCA_btl_vader_single_copy_mechanism": "none", "PT_HPU_ENABLE_LAZY_COLLECTIVES": "true"},
    requests={"cpu": "8", "memory": "64Gi", "hugepages-2Mi": "9800Mi"},
    limits={"memory": "128Gi", "hugepages-2Mi": "9800Mi"},
    collective_env_prefix="HCCL",
)

_SIM = VendorProfile(
    vendor="sim",
    image=HETEROPOOL_IMAGE,
    # A sim replica emulates one of the real accelerators (its speed profile), or a plain CPU.
    accelerators=("h100-nvl", "h100-sxm", "mi300x", "mi325x", "gaudi2", "gaudi3", "cpu"),
    default_accelerator="cpu",
    device_resource=None,
    default_block_size=16,
    startup_timeout_s=2 * 60,
    shm_size="64Mi",
    command=("heteropool", "sim"),
    requests={"cpu": "100m", "memory": "128Mi"},
    limits={"memory": "512Mi"},
    is_simulator=True,
    drain_delay_s=5,
    shutdown_grace_s=10,
)

VENDOR_PROFILES: Mapping[str, VendorProfile] = MappingProxyType({p.vendor: p for p in (_NVIDIA, _AMD, _GAUDI, _SIM)})

# Per-replica peak output tokens/s of an 8B dense model, TP1, shared-prefix workload
# (the published granite-4.1-8b runs; estimates for the ones not measured there: docs/weights.md; the
# H100 from the simulated 4-pod pool, since the published "NVIDIA-only" figures were not a 4-pod
# measurement: docs/simulator.md, "Calibration"). Only the ratios matter: they are the weight
# controller's prior until metrics exist.
ACCELERATOR_CAPACITY_TOKENS_PER_S: Mapping[str, float] = MappingProxyType(
    {
        "h100-nvl": 1600.0,
        "h100-sxm": 1800.0,
        "mi300x": 1700.0,
        "mi325x": 2100.0,
        "gaudi2": 450.0,
        "gaudi3": 630.0,
        "cpu": 60.0,
    }
)


# Per-replica prefill speed of an 8B dense model, TP1: uncached prompt tokens/s one prompt is
# prefilled at (peak dense BF16 FLOP/s x the GEMM efficiency fitted to the published pools, over
# 2 x 8.4e9 FLOP per token; docs/simulator.md). The H100 prefills ~3.5x faster than an MI325X
# but has less output capacity, while it prefills ~1.7x and decodes ~2.5x faster than a Gaudi 3, so
# output capacity alone cannot say where a long uncached prompt starts soonest. The Endpoint Picker's prior
# until the weight loop measures.
ACCELERATOR_PREFILL_TOKENS_PER_S: Mapping[str, float] = MappingProxyType(
    {
        "h100-nvl": 15_000.0,
        "h100-sxm": 17_700.0,
        "mi300x": 4_300.0,
        "mi325x": 4_300.0,
        "gaudi2": 2_100.0,
        "gaudi3": 8_700.0,
        "cpu": 100.0,
    }
)


def vendor_profile(vendor: str) -> VendorProfile:
    """The profile of a vendor name (one of api.VENDOR_NAMES)."""
    try:
        return VENDOR_PROFILES[vendor]
    except KeyError:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(VENDOR_PROFILES)}") from None


def prior_capacity_tokens_per_s(accelerator: str, accelerators_per_replica: int = 1) -> float:
    """Capacity prior of one replica of a known accelerator (see VendorProfile.accelerators).

    Tensor parallelism does not scale linearly: each extra device adds ~70% of one.
    """
    return ACCELERATOR_CAPACITY_TOKENS_PER_S[accelerator] * (1.0 + 0.7 * (accelerators_per_replica - 1))


def group_prior_tokens_per_s(group: VendorGroup) -> float:
    """Capacity prior of one replica of a (validated) vendor group: its accelerator, else the vendor's default."""
    accelerator = group.accelerator or vendor_profile(group.vendor).default_accelerator
    return prior_capacity_tokens_per_s(accelerator, group.accelerators_per_replica)


def prior_prefill_tokens_per_s(accelerator: str, accelerators_per_replica: int = 1) -> float:
    """Prefill-speed prior of one replica of a known accelerator (TP scales as `prior_capacity_tokens_per_s`)."""
    return ACCELERATOR_PREFILL_TOKENS_PER_S[accelerator] * (1.0 + 0.7 * (accelerators_per_replica - 1))


def group_prior_prefill_tokens_per_s(group: VendorGroup) -> float:
    """Prefill-speed prior of one replica of a (validated) vendor group."""
    accelerator = group.accelerator or vendor_profile(group.vendor).default_accelerator
    return prior_prefill_tokens_per_s(accelerator, group.accelerators_per_replica)
