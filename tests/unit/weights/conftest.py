"""Synthetic vLLM replicas for the weight controller: cumulative metrics from a step-time model.

A replica's step takes `slowdown x (a_s + b_s x batch)`; every running sequence gets one token per
step, so its inter-token latency is the step time and its output rate is batch / step time.
`PoolModel` closes the loop like a gateway does: the pool's concurrency is split by the shares of
the last update, so a replica gets traffic in proportion to its weight.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pytest

from heteropool.vllm_metrics import EngineSample, HistogramTotals
from heteropool.weights.controller import ScrapeTarget, WeightController, WeightSettings, WeightUpdate


@dataclass
class SyntheticReplica:
    a_s: float = 0.006
    b_s: float = 0.00005
    slowdown: float = 1.0
    prompt_tokens: int = 200
    output_tokens: int = 200
    kv_tokens: int = 1_000_000
    block_size: int = 16
    prefill_tokens_per_s: float = 20_000.0
    gen: float = 0.0
    prompt: float = 0.0
    itl_sum: float = 0.0
    itl_count: float = 0.0
    e2e_count: float = 0.0
    prefill_s: float = 0.0
    running: float = 0.0

    def step_s(self, batch: float) -> float:
        return self.slowdown * (self.a_s + self.b_s * batch)

    def advance(self, dt_s: float, batch: float) -> None:
        self.running = batch
        if batch <= 0:
            return
        step = self.step_s(batch)
        tokens = batch * dt_s / step
        self.gen += tokens
        self.itl_sum += tokens * step
        self.itl_count += tokens
        finished = tokens / self.output_tokens
        self.e2e_count += finished
        self.prompt += finished * self.prompt_tokens
        self.prefill_s += finished * self.prompt_tokens / self.prefill_tokens_per_s

    def restart(self) -> None:
        self.gen = self.prompt = self.itl_sum = self.itl_count = self.e2e_count = self.prefill_s = 0.0

    def sample(self) -> EngineSample:
        return EngineSample(
            running=self.running,
            waiting=0.0,
            kv_cache_usage=0.1,
            generation_tokens_total=self.gen,
            prompt_tokens_total=self.prompt,
            inter_token_latency=HistogramTotals(self.itl_sum, self.itl_count),
            e2e_latency=HistogramTotals(self.e2e_count * 5.0, self.e2e_count),
            prefill_time=HistogramTotals(self.prefill_s, self.e2e_count),
            block_size=self.block_size,
            num_gpu_blocks=self.kv_tokens // self.block_size,
        )


def target(name: str, prior: float = 1000.0, group: str | None = None) -> ScrapeTarget:
    return ScrapeTarget(
        endpoint_id=name,
        url=f"http://{name}:8000",
        group=group or name,
        vendor="sim",
        prior_capacity_tokens_per_s=prior,
    )


@dataclass
class PoolModel:
    """Replicas behind a gateway that splits `concurrency` by the last update's endpoint shares."""

    replicas: dict[str, SyntheticReplica]
    targets: list[ScrapeTarget]
    settings: WeightSettings = field(default_factory=lambda: WeightSettings(interval_s=15.0))
    concurrency: float = 128.0
    now: float = 1_000.0
    controller: WeightController = field(init=False)
    last: WeightUpdate | None = None
    # endpoint -> fixed batch, overriding the gateway split (a starved or a pinned replica)
    pinned: dict[str, float] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.controller = WeightController(self.settings)

    def batches(self) -> dict[str, float]:
        keys = [t.endpoint_id for t in self.targets]
        if self.last is None:
            shares = {k: 1.0 / len(keys) for k in keys}
        else:
            shares = {k: (self.last.endpoints[k].share if k in self.last.endpoints else 0.0) for k in keys}
        free = [k for k in keys if k not in self.pinned]
        total = sum(shares[k] for k in free) or 1.0
        out = {k: self.concurrency * shares[k] / total for k in free}
        out.update(self.pinned)
        return out

    def tick(self) -> WeightUpdate:
        from heteropool.vllm_metrics import ScrapeError

        dt = self.settings.interval_s
        for k, batch in self.batches().items():
            self.replicas[k].advance(dt, batch)
        self.now += dt
        results: dict[str, EngineSample | ScrapeError] = {}
        for t in self.targets:
            if t.endpoint_id in self.failing:
                results[t.endpoint_id] = ScrapeError(f"GET {t.url}/metrics: ConnectError")
            else:
                results[t.endpoint_id] = self.replicas[t.endpoint_id].sample()
        self.last = self.controller.update(self.targets, results, self.now)
        return self.last

    def run(self, intervals: int) -> list[WeightUpdate]:
        return [self.tick() for _ in range(intervals)]


@pytest.fixture
def make_pool() -> Callable[..., PoolModel]:
    def make(
        replicas: Mapping[str, SyntheticReplica], priors: Mapping[str, float] | None = None, **settings: object
    ) -> PoolModel:
        priors = priors or {}
        targets = [target(k, priors.get(k, 1000.0)) for k in replicas]
        return PoolModel(dict(replicas), targets, WeightSettings(**{"interval_s": 15.0, **settings}))  # type: ignore[arg-type]

    return make


@pytest.fixture
def replica() -> type[SyntheticReplica]:
    return SyntheticReplica


@pytest.fixture
def make_target() -> Callable[..., ScrapeTarget]:
    return target
