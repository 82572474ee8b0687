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
    dense_tflops: float  # peak dense FP8 TFLOP/s (BF16 where the part has no faster FP8 path)
    block_size: int
    max_num_seqs: int
    max_num_batched_tokens: int
    # Fitted (see bench/results/sim_calibration.md): fraction of peak FLOP/s reached by the
    # model's GEMMs (prefill tokens, and decode sequences alike), effective rate at which decode attention streams KV (TB/s, may differ from HBM
    # because it absorbs kernel quality and KV dtype), fixed per-step overhead (scheduler,
    # launch, sampling) and per-sequence overhead per decode step.
    prefill_flops_eff: float
    kv_read_tb_per_s: float
    step_overhead_s: float
    seq_overhead_s: float
    gpu_memory_utilization: float = 0.9


@dataclass(frozen=True, slots=True)
class ModelClass:
    """A model size class: the cost drivers of one dense decoder (FP8 weights and KV cache)."""

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


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a
    for a in (
        # Fitted to section 7's NVIDIA-only pool (4 pods, 30 QPS, llm-d vs round-robin).
        Accelerator("h100-nvl", "nvidia", 94, 3.9, 1670, 16, 1024, 8192,
                    prefill_flops_eff=0.30, kv_read_tb_per_s=2.9,
                    step_overhead_s=0.004, seq_overhead_s=10e-6),
        # Not in section 7: H100-NVL's efficiencies on SXM hardware (a prior, not a fit).
        Accelerator("h100-sxm", "nvidia", 80, 3.35, 1979, 16, 1024, 8192,
                    prefill_flops_eff=0.30, kv_read_tb_per_s=2.9 * 3.35 / 3.9,
                    step_overhead_s=0.004, seq_overhead_s=10e-6),
        # Not in section 7: MI325X's efficiencies, KV rate scaled by HBM bandwidth (5.3 / 6.0).
        Accelerator("mi300x", "amd", 192, 5.3, 2615, 16, 1024, 8192,
                    prefill_flops_eff=0.04, kv_read_tb_per_s=2.6 * 5.3 / 6.0,
                    step_overhead_s=0.006, seq_overhead_s=10e-6),
        # Fitted to section 7's AMD-only pool (8 pods, 50 QPS): its +79% round-robin gap needs a
        # slow long-prompt prefill (~4% of FP8 peak), as that run's 20 s round-robin TTFT shows.
        Accelerator("mi325x", "amd", 256, 6.0, 2615, 16, 1024, 8192,
                    prefill_flops_eff=0.04, kv_read_tb_per_s=2.6,
                    step_overhead_s=0.006, seq_overhead_s=10e-6),
        # Not in section 7: Gaudi 3's efficiencies on Gaudi 2 hardware, KV rate scaled by bandwidth.
        Accelerator("gaudi2", "gaudi", 96, 2.45, 865, 128, 256, 8192,
                    prefill_flops_eff=0.07, kv_read_tb_per_s=0.45 * 2.45 / 3.7,
                    step_overhead_s=0.010, seq_overhead_s=60e-6),
        # Fitted to section 7's Gaudi-only pool (8 pods, 25 QPS, block size 128, max-num-seqs 256).
        Accelerator("gaudi3", "gaudi", 128, 3.7, 1835, 128, 256, 8192,
                    prefill_flops_eff=0.07, kv_read_tb_per_s=0.45,
                    step_overhead_s=0.010, seq_overhead_s=60e-6),
        # A generic CPU backend (kind clusters, laptops): slow on purpose, not calibrated.
        Accelerator("cpu", "cpu", 64, 0.2, 4, 16, 128, 2048,
                    prefill_flops_eff=0.5, kv_read_tb_per_s=0.1,
                    step_overhead_s=0.005, seq_overhead_s=100e-6),
    )
}

MODEL_CLASSES: dict[str, ModelClass] = {
    # Llama-3.1-8B geometry, FP8 weights and KV: 32 layers x 8 KV heads x 128 dims x 2 (K,V)
    # x 1 byte = 64 KiB/token. (BF16 KV could not reach section 7's 3,600 tok/s on an H100-NVL at
    # ~7.7k context: each token would read 1 GB of KV, ~3,900 tok/s at 100% of 3.9 TB/s.)
    "8b": ModelClass("8b", 8.0e9, 8.5 * _GB, 65_536, 32, 4096, 4 * _GB, 131_072),
    # Qwen3-32B geometry, FP8: 64 layers x 8 KV heads x 128 dims x 2 x 1 byte = 128 KiB/token.
    "30b": ModelClass("30b", 32.8e9, 33.5 * _GB, 131_072, 64, 5120, 4 * _GB, 40_960),
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
    flops = acc.dense_tflops * 1e12 * acc.prefill_flops_eff
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
        # Decode GEMMs at batch size b cost like b tokens of prefill.
        decode_seq_s=acc.seq_overhead_s + 2 * model.params / flops,
        ctx_token_s=model.kv_bytes_per_token / (acc.kv_read_tb_per_s * 1e12),
    )
