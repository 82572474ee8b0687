"""How fast the fleet simulation runs: 20 replicas over the full QPS ladder (~10,000 requests).

The routing-quality setup of the README's targets: 4 H100-NVL + 8 MI325X + 8 Gaudi 3, shared-prefix
workload, QPS 5..85 in steps of 10, 25 s stages (about 10,000 requests). Runs each policy from
`heteropool.scheduling.policies.build_router` and records wall time and the per-stage report in
bench/results/sim_fleet_speed.md. Run: .venv/bin/python bench/sim_fleet_speed.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from heteropool.fleet import FleetSimulation, LoadStage, SharedPrefixWorkload, build_stage_items
from heteropool.fleet.cli import DEFAULT_QPS, DEFAULT_WARMUP
from heteropool.fleet.experiment import SERVICE_BASELINE, plan_pool
from heteropool.fleet.report import markdown_table, summarize
from heteropool.manifests import load_pools
from heteropool.scheduling.policies import build_router

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "granite-3vendor.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policies", nargs="+", default=["round-robin", "least-request", "llm-d", "heteropool"])
    parser.add_argument("--stage-s", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/sim_fleet_speed.md")
    args = parser.parse_args()
    t0 = time.perf_counter()
    workload = SharedPrefixWorkload(seed=args.seed)
    stages = [LoadStage(*DEFAULT_WARMUP)] + [LoadStage(q, args.stage_s) for q in DEFAULT_QPS]
    items = build_stage_items(workload, stages, args.seed)
    gen_s = time.perf_counter() - t0
    n_requests = sum(len(i) for i in items)
    plan = plan_pool(load_pools(SAMPLE.read_text())[0])
    replicas = plan.replicas
    vendors = {r.id: r.vendor for r in replicas}
    sections, rows = [], []
    for policy in args.policies:
        t1 = time.perf_counter()
        params = SERVICE_BASELINE if policy == "round-robin" else None
        sim = FleetSimulation(replicas, build_router(policy, seed=args.seed, parameters=params), scrape_interval_s=0.2)
        records = sim.run([(s.qps, its) for s, its in zip(stages, items, strict=True)])
        wall = time.perf_counter() - t1
        steps = sum(sim.engine(r).stats.steps for r in sim.replica_ids)
        summaries = [summarize(r, vendors) for r in records[1:]]
        simulated = records[-1].end_s
        rows.append(f"| {policy} | {n_requests:,} | {simulated:,.0f} | {steps:,} | {wall:.1f} |")
        sections.append(f"### {policy}\n\n{markdown_table(summaries)}")
        print(f"{policy}: {wall:.1f} s wall for {simulated:.0f} s simulated, {steps:,} engine steps", flush=True)
    text = f"""# Fleet simulation speed: 20 replicas, full QPS ladder

Command: `.venv/bin/python bench/sim_fleet_speed.py` (seed {args.seed}).
Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};
one process, one core used. No GPU involved.
Pool: samples/granite-3vendor.yaml (4 h100-nvl + 8 mi325x + 8 gaudi3, published vLLM flags);
shared-prefix workload (150 groups x 5 prompts, 6000 + 1200 prompt tokens, 1000 output tokens);
warm-up {DEFAULT_WARMUP[0]:g} QPS x {DEFAULT_WARMUP[1]:g} s (included in the wall time, not in the tables), then
QPS {", ".join(f"{q:g}" for q in DEFAULT_QPS)}, {args.stage_s:g} s stages, each drained before the next;
scrape every 0.2 s. Workload generation: {gen_s:.1f} s.

Target: under 60 s per run.

| policy | requests | simulated s | engine steps | wall s |
|---|---:|---:|---:|---:|
{chr(10).join(rows)}

The per-stage figures below are a by-product (the routing comparison belongs to the gateway
benchmarks); output tok/s = output tokens of the stage's requests / (last completion - first send).

{chr(10).join(sections)}
"""
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
