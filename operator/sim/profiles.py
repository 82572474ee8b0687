"""Vendor speed profiles: what one vLLM replica of a given accelerator and model size costs per step.

A profile is derived from two small tables: the accelerator (memory, bandwidth, dense BF16
TFLOP/s, vLLM defaults, and efficiencies fitted to the published pool figures of design section 7)
and the model size class (parameters, weight bytes, KV bytes per token). docs/simulator.md and
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
    "build_profile",
    "size_class_for_model",
]

_GB = 1e9


class ProfileError(ValueError):
    """Unknown profile or size class; the message lists the valid names."""


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One accelerator as vLLM serves on it (TP1). Hardware facts, vLLM defaults, fitted efficiencies."""

    name: str
    vendor: str
    hbm_gb: float
    hbm_tb_per_s: float
    bf16_tflops: float
    block_size: int
    max_num_seqs: int
    max_num_batched_tokens: int
    # Fitted (see bench/results/sim_calibration.md): fraction of peak FLOP/s reached by prefill
    # GEMMs, effective rate at which decode attention streams KV (TB/s, may differ from HBM
    # because it absorbs kernel quality and KV dtype), fixed per-step overhead (scheduler,
    # launch, sampling) and per-sequence overhead per decode step.
    prefill_flops_eff: float
    kv_read_tb_per_s: float
    step_overhead_s: float
    seq_overhead_s: float
    gpu_memory_utilization: float = 0.9


@dataclass(frozen=True, slots=True)
class ModelClass:
    """A model size class: the cost drivers of one dense decoder (BF16 weights)."""

    name: str
    params: float
    weight_bytes: float
    kv_bytes_per_token: int
    num_layers: int
    hidden_size: int
    activation_reserve_bytes: float
    max_model_len: int


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


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        Accelerator("h100-nvl", "nvidia", 94, 3.9, 835, 16, 1024, 8192,
                    prefill_flops_eff=0.62, kv_read_tb_per_s=5.6,
                    step_overhead_s=0.004, seq_overhead_s=25e-6),
        Accelerator("h100-sxm", "nvidia", 80, 3.35, 989, 16, 1024, 8192,
                    prefill_flops_eff=0.62, kv_read_tb_per_s=4.8,
                    step_overhead_s=0.004, seq_overhead_s=25e-6),
        Accelerator("mi300x", "amd", 192, 5.3, 1307, 16, 1024, 8192,
                    prefill_flops_eff=0.12, kv_read_tb_per_s=3.1,
                    step_overhead_s=0.006, seq_overhead_s=30e-6),
        Accelerator("mi325x", "amd", 256, 6.0, 1307, 16, 1024, 8192,
                    prefill_flops_eff=0.13, kv_read_tb_per_s=3.5,
                    step_overhead_s=0.006, seq_overhead_s=30e-6),
        Accelerator("gaudi2", "gaudi", 96, 2.45, 432, 128, 256, 8192,
                    prefill_flops_eff=0.20, kv_read_tb_per_s=0.8,
                    step_overhead_s=0.010, seq_overhead_s=60e-6),
        Accelerator("gaudi3", "gaudi", 128, 3.7, 1835, 128, 256, 8192,
                    prefill_flops_eff=0.06, kv_read_tb_per_s=1.1,
                    step_overhead_s=0.010, seq_overhead_s=60e-6),
        Accelerator("cpu", "cpu", 64, 0.2, 4, 16, 128, 2048,
                    prefill_flops_eff=0.5, kv_read_tb_per_s=0.1,
                    step_overhead_s=0.005, seq_overhead_s=100e-6),
    )
}

MODEL_CLASSES: dict[str, ModelClass] = {
    # Llama-3.1-8B geometry: 32 layers x 8 KV heads x 128 dims x 2 (K,V) x 2 bytes = 128 KiB/token.
    "8b": ModelClass("8b", 8.0e9, 16.1 * _GB, 131_072, 32, 4096, 4 * _GB, 131_072),
    # Qwen3-32B geometry: 64 layers x 8 KV heads x 128 dims x 2 x 2 bytes = 256 KiB/token.
    "30b": ModelClass("30b", 32.8e9, 65.5 * _GB, 262_144, 64, 5120, 4 * _GB, 40_960),
}

PROFILE_NAMES: tuple[str, ...] = tuple(ACCELERATORS)


def size_class_for_model(model: str) -> str:
    """Guess the size class from a model name (`...-32b-...` -> 30b); 8b when no size is named."""
    sizes = [float(m) for m in re.findall(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", model)]
    return "30b" if sizes and max(sizes) >= 20 else "8b"


def build_profile(name: str, size_class: str = "8b") -> SpeedProfile:
    """The speed profile of accelerator `name` serving a model of `size_class`.

    Raises:
        ProfileError: unknown accelerator or size class (the message lists the valid ones).
    """
    acc = ACCELERATORS.get(name)
    if acc is None:
        raise ProfileError(f"profile: unknown profile {name!r}; known: {', '.join(PROFILE_NAMES)}")
    model = MODEL_CLASSES.get(size_class)
    if model is None:
        raise ProfileError(f"size class: unknown {size_class!r}; known: {', '.join(MODEL_CLASSES)}")
    flops = acc.bf16_tflops * 1e12 * acc.prefill_flops_eff
    kv_bytes = acc.hbm_gb * _GB * acc.gpu_memory_utilization - model.weight_bytes
    kv_bytes -= model.activation_reserve_bytes
    return SpeedProfile(
        name=name,
        vendor=acc.vendor,
        size_class=model.name,
        block_size=acc.block_size,
        max_num_seqs=acc.max_num_seqs,
        max_num_batched_tokens=acc.max_num_batched_tokens,
        max_model_len=model.max_model_len,
        kv_capacity_tokens=max(acc.block_size, int(kv_bytes // model.kv_bytes_per_token)),
        # Decode reads every weight once per step, whatever the batch.
        step_base_s=acc.step_overhead_s + model.weight_bytes / (acc.hbm_tb_per_s * 1e12),
        prefill_token_s=2 * model.params / flops,
        # QK^T and AV: 2 matmuls x 2 FLOPs x hidden size per layer and context token.
        prefill_attn_s=4 * model.num_layers * model.hidden_size / flops,
        decode_seq_s=acc.seq_overhead_s + 2 * model.params / (acc.bf16_tflops * 1e12 * 0.5),
        ctx_token_s=model.kv_bytes_per_token / (acc.kv_read_tb_per_s * 1e12),
    )
