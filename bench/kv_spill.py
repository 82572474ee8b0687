"""heteropool's KV-headroom spill rule on the NVIDIA+AMD pool: preemptions, throughput, p99 TTFT.

samples/nvidia-amd.yaml (published flags), shared-prefix workload, the published protocol (30 QPS x
50 s warm-up, then 5..85 QPS, 30 s stages, drained), seeds 0-2; heteropool with
`capacity-load-scorer` `kvSpill` 1.0 (off), 0.95 (default), 0.9, and llm-d for reference.
Writes bench/results/kv_spill.md. Run: .venv/bin/python bench/kv_spill.py
"""

from __future__ import annotations

import time
from pathlib import Path

from heteropool.fleet.cli import DEFAULT_QPS, DEFAULT_WARMUP
from heteropool.fleet.experiment import plan_pool
from heteropool.fleet.report import summarize
from heteropool.fleet.simulation import FleetSimulation
from heteropool.fleet.workloads import LoadStage, SharedPrefixWorkload, build_stage_items
from heteropool.manifests import load_pools
from heteropool.scheduling.policies import build_router

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = [("heteropool", 1.0), ("heteropool", 0.95), ("heteropool", 0.9), ("llm-d", None)]
SEEDS = (0, 1, 2)


TABLE_HEADER = (
    "| policy | recompute preemptions, seeds 0 / 1 / 2 | output tok/s at 55 / 70 / 85 QPS, seed 0 "
    "| mean tok/s at 55-85 QPS over seeds | p99 TTFT s at 85 QPS, seeds 0 / 1 / 2 |"
)


TABLE_HEADER = (
    "| policy | recompute preemptions, seeds 0 / 1 / 2 | output tok/s at 55 / 70 / 85 QPS, seed 0 "
    "| mean tok/s at 55-85 QPS over seeds | p99 TTFT s at 85 QPS, seeds 0 / 1 / 2 |"
)


def main() -> None:
    t0 = time.perf_counter()
    plan = plan_pool(load_pools((ROOT / "samples" / "nvidia-amd.yaml").read_text())[0])
    stages = [LoadStage(*DEFAULT_WARMUP)] + [LoadStage(q, 30.0) for q in DEFAULT_QPS]
    rows = []
    for policy, kv in VARIANTS:
        cells = []
        for seed in SEEDS:
            items = build_stage_items(SharedPrefixWorkload(seed=seed), stages, seed)
            params = {"capacity-load-scorer": {"kvSpill": kv}} if kv is not None else None
            sim = FleetSimulation(plan.replicas, build_router(policy, seed=seed, parameters=params))
            records = sim.run([(s.qps, i) for s, i in zip(stages, items, strict=True)])
            pre = sum(sim.engine(r).stats.preemptions for r in sim.replica_ids)
            sums = [summarize(r, plan.groups) for r in records[1:]]
            cells.append((pre, [s.output_tokens_per_s for s in sums[-3:]], sums[-1].ttft_p99_s))
            print(policy, kv, seed, cells[-1], flush=True)
        label = policy if kv is None else f"heteropool, kvSpill {kv:g}"
        rows.append(
            f"| {label} | {' / '.join(f'{c[0]:,}' for c in cells)} | "
            f"{' / '.join(f'{x:,.0f}' for x in cells[0][1])} | "
            f"{sum(sum(c[1]) for c in cells) / (3 * len(SEEDS)):,.0f} | {' / '.join(f'{c[2]:.2f}' for c in cells)} |"
        )
    text = f"""# KV-headroom spill rule: NVIDIA+AMD pool

Command: `.venv/bin/python bench/kv_spill.py` ({time.perf_counter() - t0:.0f} s wall on the shared 2-core
machine). samples/nvidia-amd.yaml (4 H100-NVL + 8 MI325X, published flags), shared-prefix, published
protocol (warm-up 30 QPS x 50 s, QPS 5..85, 30 s stages, drained), seeds {", ".join(map(str, SEEDS))}.

{TABLE_HEADER}
|---|---|---|---:|---|
{chr(10).join(rows)}
"""
    (ROOT / "bench" / "results" / "kv_spill.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
