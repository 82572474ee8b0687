"""Vendor speed profiles: what one vLLM replica of a given accelerator and model size costs per step.

A profile is derived from two small tables and the replica's vLLM flags: the accelerator (memory,
bandwidth, dense BF16 TFLOP/s, vLLM defaults, and efficiencies fitted to the published pool
figures), the model architecture (layers, KV heads, head size, parameters), and `--dtype`,
`--kv-cache-dtype`, `--gpu-memory-utilization`. docs/simulator.md and
bench/results/sim_calibration.md explain each number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Accelerator",
    "ModelClass",
    "SpeedProfile",
    "ACCELERATORS",
    "MODEL_CLASSES",
    "PROFILE_NAMES",
    "ProfileError",
    "DTYPES",
    "KV_CACHE_DTYPES",
    "build_profile",
    "size_class_for_model",
]

_GB = 1e9
_GIB = 2**30


class ProfileError(ValueError):
    """Unknown profile or size class; the message lists the valid names."""


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One accelerator as vLLM serves on it (TP1). Hardware facts, vLLM defaults, fitted efficiencies."""

    name: str
    vendor: str
    hbm_gib: float  # device memory as the driver reports it (vendors' "GB" are GiB)
    hbm_tb_per_s: float
    dense_tflops: float  # peak dense BF16 TFLOP/s (the published runs serve BF16 weights)
    block_size: int
    max_num_seqs: int
    max_num_batched_tokens: int
    # Fitted or prior (see bench/results/sim_calibration.md): fraction of peak FLOP/s reached by
    # the model's GEMMs (prefill tokens and decode sequences alike); rate at which decode attention
    # streams KV (TB/s: HBM bandwidth on the GPUs, fitted below it on Gaudi, see docs/simulator.md);
    # fixed per-step overhead (scheduler, launch, sampling) and per-sequence overhead per decode step.
    prefill_flops_eff: float
    kv_read_tb_per_s: float
    step_overhead_s: float
    seq_overhead_s: float


@dataclass(frozen=True, slots=True)
class ModelClass:
    """A model architecture: the cost drivers of one dense decoder, from its published config."""

    name: str
    params: float
    num_layers: int  # attention layers (all layers: no state-space layers in these models)
    hidden_size: int
    num_kv_heads: int
    head_dim: int
    activation_reserve_bytes: float
    max_model_len: int

    def kv_bytes_per_token(self, kv_bytes: int) -> int:
        """K and V of every attention layer for one token."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * kv_bytes


@dataclass(frozen=True, slots=True)
class SpeedProfile:
    """Per-step cost model of one replica: what `Engine` needs, nothing else.

    step time = step_base_s
              + prefill_token_s * prefill tokens
              + prefill_attn_s * sum over prefill tokens of their context position
              + decode_seq_s * decoding sequences
              + ctx_token_s * context tokens of the decoding sequences (KV read, memory bound)
    """

    name: str
    vendor: str
    size_class: str
    block_size: int
    max_num_seqs: int
    max_num_batched_tokens: int
    max_model_len: int
    kv_capacity_tokens: int
    step_base_s: float
    prefill_token_s: float
    prefill_attn_s: float
    decode_seq_s: float
    ctx_token_s: float

    def num_gpu_blocks(self, block_size: int | None = None) -> int:
        """KV blocks for `block_size` (default: the profile's own)."""
        return max(1, self.kv_capacity_tokens // (block_size or self.block_size))

    def decode_tokens_per_s(self, context_tokens: int, batch: int | None = None) -> float:
        """Output tokens/s of a pure-decode batch at `context_tokens` per sequence.

        `batch` defaults to the largest batch that max-num-seqs and KV capacity allow: a prior
        for capacity estimates before any metrics exist.
        """
        if batch is None:
            batch = min(self.max_num_seqs, max(1, self.kv_capacity_tokens // max(1, context_tokens)))
        step = self.step_base_s + batch * (self.decode_seq_s + self.ctx_token_s * context_tokens)
        return batch / step

    def prefill_tokens_per_s(self, prompt_tokens: int) -> float:
        """Prefill throughput for prompts of `prompt_tokens` (no cache hits, no decode alongside)."""
        per_token = self.prefill_token_s + self.prefill_attn_s * prompt_tokens / 2
        return 1.0 / per_token


# The efficiencies (bench/calibrate_sim.py; bench/results/sim_calibration.md). GPUs stream KV at
# their HBM bandwidth; GEMM efficiency is fitted on MI325X and a prior on H100 (no published
# 4-pod NVIDIA figure exists, see docs/simulator.md).
H100_GEMM_EFF, H100_KV_TBS = 0.30, 3.9
MI325X_GEMM_EFF, MI325X_KV_TBS = 0.055, 10.0
GAUDI3_GEMM_EFF, GAUDI3_KV_TBS = 0.08, 1.1

ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        # Priors: GEMM efficiency of a tuned CUDA BF16 GEMM, KV streamed at HBM bandwidth.
        Accelerator(
            "h100-nvl",
            "nvidia",
            93.6,
            3.9,
            835,
            16,
            1024,
            8192,
            prefill_flops_eff=H100_GEMM_EFF,
            kv_read_tb_per_s=H100_KV_TBS,
            step_overhead_s=0.004,
            seq_overhead_s=10e-6,
        ),
        # Not published: H100-NVL's efficiencies on SXM hardware (a prior, not a fit).
        Accelerator(
            "h100-sxm",
            "nvidia",
            79.6,
            3.35,
            989,
            16,
            1024,
            8192,
            prefill_flops_eff=H100_GEMM_EFF,
            kv_read_tb_per_s=H100_KV_TBS * 3.35 / 3.9,
            step_overhead_s=0.004,
            seq_overhead_s=10e-6,
        ),
        # Not published: MI325X's efficiencies, KV rate scaled by HBM bandwidth (5.3 / 6.0).
        Accelerator(
            "mi300x",
            "amd",
            192,
            5.3,
            1307,
            16,
            1024,
            8192,
            prefill_flops_eff=MI325X_GEMM_EFF,
            kv_read_tb_per_s=MI325X_KV_TBS * 5.3 / 6.0,
            step_overhead_s=0.006,
            seq_overhead_s=10e-6,
        ),
        # GEMM efficiency fitted to the published AMD-only pool (8 pods, QPS ladder to 60).
        Accelerator(
            "mi325x",
            "amd",
            256,
            6.0,
            1307,
            16,
            1024,
            8192,
            prefill_flops_eff=MI325X_GEMM_EFF,
            kv_read_tb_per_s=MI325X_KV_TBS,
            step_overhead_s=0.006,
            seq_overhead_s=10e-6,
        ),
        # Not published: Gaudi 3's efficiencies on Gaudi 2 hardware, KV rate scaled by bandwidth.
        Accelerator(
            "gaudi2",
            "gaudi",
            96,
            2.45,
            432,
            128,
            256,
            8192,
            prefill_flops_eff=GAUDI3_GEMM_EFF,
            kv_read_tb_per_s=GAUDI3_KV_TBS * 2.45 / 3.7,
            step_overhead_s=0.010,
            seq_overhead_s=60e-6,
        ),
        # Fitted to the published Gaudi-only pool (8 pods, block size 128, max-num-seqs 256).
        Accelerator(
            "gaudi3",
            "gaudi",
            128,
            3.7,
            1835,
            128,
            256,
            8192,
            prefill_flops_eff=GAUDI3_GEMM_EFF,
            kv_read_tb_per_s=GAUDI3_KV_TBS,
            step_overhead_s=0.010,
            seq_overhead_s=60e-6,
        ),
        # A generic CPU backend (kind clusters, laptops): slow on purpose, not calibrated.
        Accelerator(
            "cpu",
            "cpu",
            64,
            0.2,
            4,
            16,
            128,
            2048,
            prefill_flops_eff=0.5,
            kv_read_tb_per_s=0.1,
            step_overhead_s=0.005,
            seq_overhead_s=100e-6,
        ),
    )
}

MODEL_CLASSES: dict[str, ModelClass] = {
    # ibm-granite/granite-4.1-8b (docs/simulator.md, "Model architecture"): a dense decoder, 40
    # attention layers, hidden 4096, 8 KV heads of 128 dims, ~8.4B parameters with tied embeddings.
    # KV per token: 2 x 40 x 8 x 128 x 2 bytes = 160 KiB in BF16, 80 KiB in FP8.
    "8b": ModelClass("8b", 8.4e9, 40, 4096, 8, 128, 4 * _GB, 131_072),
    # Qwen3-32B geometry (64 layers, hidden 5120, 8 KV heads of 128 dims): 256 KiB/token in BF16.
    "30b": ModelClass("30b", 32.8e9, 64, 5120, 8, 128, 4 * _GB, 40_960),
}

# `--dtype` values the simulator prices (bytes per weight); `auto` is the checkpoint's BF16.
DTYPES: dict[str, int] = {"auto": 2, "bfloat16": 2, "float16": 2, "half": 2}
# `--kv-cache-dtype` values (bytes per KV element); `auto` follows the model dtype.
KV_CACHE_DTYPES: dict[str, int | None] = {"auto": None, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default

PROFILE_NAMES: tuple[str, ...] = tuple(ACCELERATORS)


def size_class_for_model(model: str) -> str:
    """Guess the size class from a model name (`...-32b-...` -> 30b); 8b when no size is named."""
    sizes = [float(m) for m in re.findall(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", model)]
    return "30b" if sizes and max(sizes) >= 20 else "8b"


def build_profile(
    name: str,
    size_class: str = "8b",
    *,
    dtype: str = "auto",
    kv_cache_dtype: str = "auto",
    gpu_memory_utilization: float | None = None,
) -> SpeedProfile:
    """The speed profile of accelerator `name` serving a model of `size_class` with these vLLM flags.

    Raises:
        ProfileError: unknown accelerator, size class or dtype, or a memory fraction outside (0, 1]
            (the message names the flag and lists the valid values).
    """
    acc = ACCELERATORS.get(name)
    if acc is None:
        raise ProfileError(f"profile: unknown profile {name!r}; known: {', '.join(PROFILE_NAMES)}")
    model = MODEL_CLASSES.get(size_class)
    if model is None:
        raise ProfileError(f"size class: unknown {size_class!r}; known: {', '.join(MODEL_CLASSES)}")
    weight_bytes_each = DTYPES.get(dtype)
    if weight_bytes_each is None:
        raise ProfileError(f"--dtype: unknown {dtype!r}; known: {', '.join(DTYPES)}")
    if kv_cache_dtype not in KV_CACHE_DTYPES:
        raise ProfileError(f"--kv-cache-dtype: unknown {kv_cache_dtype!r}; known: {', '.join(KV_CACHE_DTYPES)}")
    memory_fraction = DEFAULT_GPU_MEMORY_UTILIZATION if gpu_memory_utilization is None else gpu_memory_utilization
    if not 0 < memory_fraction <= 1:
        raise ProfileError(f"--gpu-memory-utilization: must be in (0, 1], got {memory_fraction}")
    kv_bytes_per_token = model.kv_bytes_per_token(KV_CACHE_DTYPES[kv_cache_dtype] or weight_bytes_each)
    weight_bytes = model.params * weight_bytes_each
    flops = acc.dense_tflops * 1e12 * acc.prefill_flops_eff
    kv_bytes = acc.hbm_gib * _GIB * memory_fraction - weight_bytes - model.activation_reserve_bytes
    return SpeedProfile(
        name=name,
        vendor=acc.vendor,
        size_class=model.name,
        block_size=acc.block_size,
        max_num_seqs=acc.max_num_seqs,
        max_num_batched_tokens=acc.max_num_batched_tokens,
        max_model_len=model.max_model_len,
        kv_capacity_tokens=max(acc.block_size, int(kv_bytes // kv_bytes_per_token)),
        # Decode reads every weight once per step, whatever the batch.
        step_base_s=acc.step_overhead_s + weight_bytes / (acc.hbm_tb_per_s * 1e12),
        prefill_token_s=2 * model.params / flops,
        # QK^T and AV: 2 matmuls x 2 FLOPs x hidden size per layer and context token.
        prefill_attn_s=4 * model.num_layers * model.hidden_size / flops,
        # Decode GEMMs at batch size b cost like b tokens of prefill.
        decode_seq_s=acc.seq_overhead_s + 2 * model.params / flops,
        ctx_token_s=kv_bytes_per_token / (acc.kv_read_tb_per_s * 1e12),
    )
