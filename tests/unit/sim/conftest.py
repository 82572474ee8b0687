"""Factories for simulator unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from heteropool.sim.engine import Engine, EngineConfig, StepResult
from heteropool.sim.profiles import SpeedProfile, build_profile


def _profile(**overrides: Any) -> SpeedProfile:
    return replace(build_profile("h100-nvl"), **overrides)


@pytest.fixture
def make_engine() -> Callable[..., Engine]:
    """make_engine(block_size=16, num_gpu_blocks=..., max_num_seqs=..., max_num_batched_tokens=..., **profile)."""

    def factory(
        *,
        block_size: int = 16,
        num_gpu_blocks: int = 1000,
        max_num_seqs: int = 64,
        max_num_batched_tokens: int = 2048,
        enable_prefix_caching: bool = True,
        **profile_overrides: Any,
    ) -> Engine:
        cfg = EngineConfig.from_profile(
            _profile(**profile_overrides),
            block_size=block_size,
            num_gpu_blocks=num_gpu_blocks,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            enable_prefix_caching=enable_prefix_caching,
        )
        return Engine(cfg)

    return factory


def run_to_idle(engine: Engine, max_steps: int = 100_000) -> list[tuple[float, StepResult]]:
    """Step until idle; returns (end time, result) per step in virtual time."""
    out = []
    t = 0.0
    for _ in range(max_steps):
        res = engine.step()
        if res is None:
            return out
        t += res.duration_s
        out.append((t, res))
    raise AssertionError("engine did not become idle")
