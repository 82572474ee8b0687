"""A routing experiment: one pool manifest's replicas, one workload on a QPS ladder, several policies.

The shared core of `heteropool simulate` and the bench scripts. Every policy sees the same arrival
sequence (same seed); replicas get the capacity and prefill-speed priors the operator publishes before any metrics
exist (vendors.py), as the gateway would see it from the routing ConfigMap.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import queue as queue_module
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from heteropool.fleet.report import StageSummary, summarize
from heteropool.fleet.simulation import FleetSimulation, ReplicaSpec
from heteropool.fleet.workloads import (
    ChatWorkload,
    LoadStage,
    MixedPriorityWorkload,
    RandomWorkload,
    SharedPrefixWorkload,
    WorkItem,
    Workload,
    build_stage_items,
)
from heteropool.scheduling.policies import build_router
from heteropool.semantics import Pool
from heteropool.sim.profiles import PROFILE_NAMES, build_profile, size_class_for_model
from heteropool.vendors import group_prior_prefill_tokens_per_s, group_prior_tokens_per_s, vendor_profile

__all__ = [
    "WORKLOADS",
    "CSV_COLUMNS",
    "SERVICE_BASELINE",
    "PoolPlan",
    "plan_pool",
    "build_items",
    "run_policy",
    "run_policies",
    "results_csv",
    "CSV_CLASSES",
    "CSV_CLASS_FIELDS",
]

WORKLOADS: Mapping[str, Callable[[int], Workload]] = {
    "shared-prefix": lambda seed: SharedPrefixWorkload(seed=seed),
    "random": lambda seed: RandomWorkload(seed=seed),
    "chat": lambda seed: ChatWorkload(seed=seed),
    "mixed-priority": lambda seed: MixedPriorityWorkload(seed=seed),
}

CSV_COLUMNS = (
    "policy",
    "qps",
    "output_tokens_per_s",
    "requests_per_s",
    "ttft_mean_s",
    "ttft_p50_s",
    "ttft_p99_s",
    "itl_mean_s",
    "failed",
    "requests",
    "completed",
    "duration_s",
    "cached_fraction",
    "rejected",
)

CSV_CLASSES = ("high", "low")
"""Priority classes with their own columns (`ttft_mean_s_high`, ..., `rejected_low`)."""
CSV_CLASS_FIELDS = ("ttft_mean_s", "ttft_p99_s", "output_tokens_per_s", "failed", "rejected")

# The published baseline is a Kubernetes Service, which (kube-proxy's iptables mode) picks a backend
# at random per connection; a strict cycle would line up with the benchmark's periodic prompt order.
SERVICE_BASELINE: Mapping[str, object] = {"round-robin-picker": {"mode": "random"}}

Progress = Callable[[str, int], None]
"""Called with (policy, index of the stage just finished)."""


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """The simulated replicas of a pool and the vendor group of each."""

    name: str
    model: str
    replicas: tuple[ReplicaSpec, ...]
    groups: Mapping[str, str]  # replica id -> group name

    def describe(self) -> str:
        counts: dict[str, int] = {}
        profiles: dict[str, str] = {}
        for r in self.replicas:
            g = self.groups[r.id]
            counts[g] = counts.get(g, 0) + 1
            profiles[g] = r.profile.name
        return ", ".join(f"{n}x {g} ({profiles[g]})" for g, n in counts.items())


def plan_pool(pool: Pool, *, capacities: bool = True) -> PoolPlan:
    """One simulated replica per desired replica of every vendor group, with the group's vLLM flags.

    A group's profile is its `accelerator` (for `sim` groups, the accelerator it emulates), else its
    vendor's default accelerator, priced for its `dtype`, `kvCacheDtype` and
    `gpuMemoryUtilization`; `blockSize`, `maxNumSeqs`, `maxNumBatchedTokens` and `maxModelLen`
    (the group's, else the model's) bound its engine. The model name picks the size class (8b / 30b).

    Raises:
        ValueError: an accelerator without a simulator profile (names `spec.vendors[i].accelerator`),
            or a pool with no replicas.
    """
    size_class = size_class_for_model(pool.spec.model.name)
    replicas: list[ReplicaSpec] = []
    groups: dict[str, str] = {}
    for i, group in enumerate(pool.spec.vendors):
        accelerator = group.accelerator or vendor_profile(group.vendor).default_accelerator
        if accelerator not in PROFILE_NAMES:
            raise ValueError(
                f"spec.vendors[{i}].accelerator: no simulator profile for {accelerator!r} "
                f"(known: {', '.join(PROFILE_NAMES)})"
            )
        vllm = group.vllm
        profile = build_profile(
            accelerator,
            size_class,
            dtype=vllm.dtype or "auto",
            kv_cache_dtype=vllm.kv_cache_dtype or "auto",
            gpu_memory_utilization=vllm.gpu_memory_utilization,
        )
        capacity = group_prior_tokens_per_s(group) if capacities else None
        prefill = group_prior_prefill_tokens_per_s(group) if capacities else None
        for n in range(group.replicas):
            rid = f"{group.group_name}-{n}"
            replicas.append(
                ReplicaSpec(
                    rid,
                    profile,
                    block_size=vllm.block_size,
                    max_num_seqs=vllm.max_num_seqs,
                    max_num_batched_tokens=vllm.max_num_batched_tokens,
                    max_model_len=vllm.max_model_len or pool.spec.model.max_model_len,
                    capacity_tokens_per_s=capacity,
                    prefill_tokens_per_s=prefill,
                )
            )
            groups[rid] = group.group_name
    if not replicas:
        raise ValueError("spec.vendors: every group has replicas: 0; nothing to simulate")
    return PoolPlan(pool.name, pool.spec.model.name, tuple(replicas), groups)


def build_items(
    workload: str, qps: Sequence[float], stage_s: float, seed: int, warmup: LoadStage | None = None
) -> list[list[WorkItem]]:
    """The requests of every stage of the ladder (identical for every policy); the warm-up's first."""
    stages = ([warmup] if warmup else []) + [LoadStage(q, stage_s) for q in qps]
    return build_stage_items(WORKLOADS[workload](seed), stages, seed)


def run_policy(
    plan: PoolPlan,
    policy: str,
    qps: Sequence[float],
    items: Sequence[Sequence[WorkItem]],
    *,
    seed: int = 0,
    parameters: Mapping[str, object] | None = None,
    scrape_interval_s: float = 0.2,
    warmup: LoadStage | None = None,
    on_clock_s: float | None = None,
    progress: Progress | None = None,
    ignore_priority: bool = False,
) -> list[StageSummary]:
    """Run the ladder through one policy (caches stay warm between stages); the warm-up is not reported.

    `ignore_priority` routes every request at the default priority (reports keep their classes).

    `round-robin` without parameters runs as the Kubernetes Service baseline (`SERVICE_BASELINE`).

    `items` holds the warm-up's requests first when `warmup` is given. Stages drain one after the
    other (inference-perf) unless `on_clock_s` is given: then each starts that many seconds after
    the previous one and backlog carries over.
    """
    if policy == "round-robin" and parameters is None:
        parameters = SERVICE_BASELINE
    router = build_router(policy, seed=seed, parameters=parameters)
    sim = FleetSimulation(plan.replicas, router, scrape_interval_s=scrape_interval_s, ignore_priority=ignore_priority)
    ladder = ([warmup.qps] if warmup else []) + list(qps)
    if len(items) != len(ladder):
        raise ValueError(f"items: {len(items)} stages for a ladder of {len(ladder)}")
    skip = 1 if warmup else 0
    out: list[StageSummary] = []
    if on_clock_s is not None:
        durations = ([warmup.duration_s] if warmup else []) + [on_clock_s] * len(qps)
        records = sim.run(list(zip(ladder, items, strict=True)), durations=durations)
        for index, record in enumerate(records[skip:]):
            record.index = index
            out.append(summarize(record, plan.groups))
            if progress is not None:
                progress(policy, index)
        return out
    for index, (q, stage_items) in enumerate(zip(ladder, items, strict=True)):
        (record,) = sim.run([(q, stage_items)])
        if index < skip:
            continue
        record.index = index - skip
        out.append(summarize(record, plan.groups))
        if progress is not None:
            progress(policy, index - skip)
    return out


def _child(
    queue: multiprocessing.Queue[tuple[str, str, object]],
    plan: PoolPlan,
    policy: str,
    qps: Sequence[float],
    items: Sequence[Sequence[WorkItem]],
    seed: int,
    parameters: Mapping[str, object] | None,
    scrape_interval_s: float,
    warmup: LoadStage | None,
    on_clock_s: float | None,
    ignore_priority: bool,
) -> None:
    try:
        result = run_policy(
            plan,
            policy,
            qps,
            items,
            seed=seed,
            parameters=parameters,
            scrape_interval_s=scrape_interval_s,
            warmup=warmup,
            on_clock_s=on_clock_s,
            progress=lambda p, i: queue.put(("stage", p, i)),
            ignore_priority=ignore_priority,
        )
        queue.put(("done", policy, result))
    except BaseException as exc:  # reported to the parent, which raises it
        queue.put(("error", policy, f"{type(exc).__name__}: {exc}"))


def run_policies(
    plan: PoolPlan,
    policies: Sequence[str],
    qps: Sequence[float],
    items: Sequence[Sequence[WorkItem]],
    *,
    seed: int = 0,
    parameters: Mapping[str, Mapping[str, object]] | None = None,
    scrape_interval_s: float = 0.2,
    warmup: LoadStage | None = None,
    on_clock_s: float | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
    ignore_priority: bool = False,
) -> dict[str, list[StageSummary]]:
    """Every policy on the same items (see `run_policy`); `jobs` > 1 runs policies in forked workers.

    `parameters` maps a policy name to its parameter overrides.
    """
    params = parameters or {}
    if jobs <= 1 or len(policies) <= 1:
        return {
            p: run_policy(
                plan,
                p,
                qps,
                items,
                seed=seed,
                parameters=params.get(p),
                scrape_interval_s=scrape_interval_s,
                warmup=warmup,
                on_clock_s=on_clock_s,
                progress=progress,
                ignore_priority=ignore_priority,
            )
            for p in policies
        }
    ctx = multiprocessing.get_context("fork")  # children inherit the built items: no pickling
    queue = ctx.Queue()
    todo = list(policies)
    running: dict[str, multiprocessing.process.BaseProcess] = {}
    results: dict[str, list[StageSummary]] = {}
    try:
        while todo or running:
            while todo and len(running) < jobs:
                p = todo.pop(0)
                proc = ctx.Process(
                    target=_child,
                    args=(
                        queue,
                        plan,
                        p,
                        qps,
                        items,
                        seed,
                        params.get(p),
                        scrape_interval_s,
                        warmup,
                        on_clock_s,
                        ignore_priority,
                    ),
                    daemon=True,
                )
                proc.start()
                running[p] = proc
            try:
                kind, policy, payload = queue.get(timeout=1.0)
            except queue_module.Empty:
                dead = [p for p, proc in running.items() if proc.exitcode is not None]
                if dead:  # killed (e.g. out of memory) before it could report
                    raise RuntimeError(
                        f"policy {dead[0]}: worker exited with status {running[dead[0]].exitcode}"
                    ) from None
                continue
            if kind == "stage":
                if progress is not None:
                    progress(policy, payload)
            elif kind == "done":
                results[policy] = payload
                running.pop(policy).join()
            else:
                raise RuntimeError(f"policy {policy}: {payload}")
    finally:
        for child in running.values():
            child.kill()
            child.join()
        queue.close()
    return {p: results[p] for p in policies}


def results_csv(results: Mapping[str, Sequence[StageSummary]], groups: Sequence[str]) -> str:
    """One row per (policy, stage): CSV_COLUMNS, `share_<group>` (routed share) per group, then the
    CSV_CLASS_FIELDS of each of CSV_CLASSES (`<field>_<class>`; zeros for a class with no requests)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [*CSV_COLUMNS, *(f"share_{g}" for g in groups), *(f"{f}_{c}" for c in CSV_CLASSES for f in CSV_CLASS_FIELDS)]
    )
    for policy, stages in results.items():
        for s in stages:
            per_class = []
            for c in CSV_CLASSES:
                k = (s.by_class or {}).get(c)
                per_class += (
                    [
                        f"{k.ttft_mean_s:.4f}",
                        f"{k.ttft_p99_s:.4f}",
                        f"{k.output_tokens_per_s:.1f}",
                        k.failed,
                        k.rejected,
                    ]
                    if k
                    else ["0.0000", "0.0000", "0.0", 0, 0]
                )
            writer.writerow(
                [
                    policy,
                    f"{s.qps:g}",
                    f"{s.output_tokens_per_s:.1f}",
                    f"{s.request_rate:.3f}",
                    f"{s.ttft_mean_s:.4f}",
                    f"{s.ttft_p50_s:.4f}",
                    f"{s.ttft_p99_s:.4f}",
                    f"{s.itl_mean_s:.5f}",
                    s.failures,
                    s.requests,
                    s.completed,
                    f"{s.duration_s:.2f}",
                    f"{s.cached_fraction:.4f}",
                    s.rejected,
                    *(f"{s.vendor_share.get(g, 0.0):.4f}" for g in groups),
                    *per_class,
                ]
            )
    return buf.getvalue()
