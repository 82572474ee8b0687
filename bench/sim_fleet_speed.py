"""How fast the fleet simulation runs: 20 replicas over the full QPS ladder (~10,000 requests).

Design section 9's routing-quality setup: 4 H100-NVL + 8 MI325X + 8 Gaudi 3, shared-prefix
workload, QPS 5..85 in steps of 10, 25 s stages (about 10,000 requests). Runs each policy from
`heteropool.gateway.policies.build_router` and records wall time and the per-stage report in
bench/results/sim_fleet_speed.md. Run: .venv/bin/python bench/sim_fleet_speed.py
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from heteropool.fleet import FleetSimulation, ReplicaSpec, SharedPrefixWorkload, build_stage_items, qps_ladder
from heteropool.fleet.report import markdown_table, summarize
from heteropool.gateway.policies import build_router
from heteropool.sim.profiles import build_profile

POOL = {"h100-nvl": 4, "mi325x": 8, "gaudi3": 8}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policies", nargs="+", default=["round-robin", "least-request", "llm-d", "heteropool"])
    parser.add_argument("--stage-s", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/results/sim_fleet_speed.md")
    args = parser.parse_args()
    t0 = time.perf_counter()
    workload = SharedPrefixWorkload(seed=args.seed)
    stages = qps_ladder(5, 85, 10, args.stage_s)
    items = build_stage_items(workload, stages, args.seed)
    gen_s = time.perf_counter() - t0
    n_requests = sum(len(i) for i in items)
    replicas = [ReplicaSpec(f"{p}-{i}", build_profile(p)) for p, n in POOL.items() for i in range(n)]
    vendors = {r.id: r.vendor for r in replicas}
    sections, rows = [], []
    for policy in args.policies:
        t1 = time.perf_counter()
        sim = FleetSimulation(replicas, build_router(policy, seed=args.seed), scrape_interval_s=0.2)
        records = sim.run([(s.qps, its) for s, its in zip(stages, items, strict=True)])
        wall = time.perf_counter() - t1
        steps = sum(sim.engine(r).stats.steps for r in sim.replica_ids)
        summaries = [summarize(r, vendors) for r in records]
        simulated = records[-1].end_s
        rows.append(f"| {policy} | {n_requests:,} | {simulated:,.0f} | {steps:,} | {wall:.1f} |")
        sections.append(f"### {policy}\n\n{markdown_table(summaries)}")
        print(f"{policy}: {wall:.1f} s wall for {simulated:.0f} s simulated, {steps:,} engine steps", flush=True)
    text = f"""# Fleet simulation speed: 20 replicas, full QPS ladder

Command: `.venv/bin/python bench/sim_fleet_speed.py` (seed {args.seed}). Machine: {platform.processor() or platform.machine()},
{os.cpu_count()} cores, Python {platform.python_version()}; one process, one core used. No GPU involved.
Pool: 4 h100-nvl + 8 mi325x + 8 gaudi3; shared-prefix workload (150 groups x 5 prompts, 6000 + 1200
prompt tokens, 1000 output tokens); QPS 5..85 step 10, {args.stage_s:g} s stages, each drained before the
next; scrape every 0.2 s. Workload generation: {gen_s:.1f} s.

Target: under 60 s per run.

| policy | requests | simulated s | engine steps | wall s |
|---|---:|---:|---:|---:|
{chr(10).join(rows)}

The per-stage figures below are a by-product (the routing comparison belongs to the gateway
benchmarks); output tok/s = output tokens of the stage's requests / (last completion - stage start).

{chr(10).join(sections)}
"""
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
