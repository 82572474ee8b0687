"""Routing quality of the gateway's policies in the fleet simulation (virtual time, same picker code).

Replicas get capacities (output tok/s per replica: the capacity priors, docs/weights.md) as the weight controller
would publish them. Prints one markdown table per policy.

    .venv/bin/python bench/gateway_fleet.py heteropool,llm-d,round-robin,least-request 5:85:10 25
    .venv/bin/python bench/gateway_fleet.py heteropool,llm-d 50:50:10 20 '{"mi325x": 8}'
    .venv/bin/python bench/gateway_fleet.py heteropool 85:85:10 20 '{"h100-nvl": 4, "mi325x": 8, "gaudi3": 8}' \
        '{"capacity-load-scorer": {"spillAbs": 32}}'
"""

from __future__ import annotations

import json
import sys
import time

from heteropool.fleet.report import markdown_table, summarize
from heteropool.fleet.simulation import FleetSimulation, ReplicaSpec
from heteropool.fleet.workloads import SharedPrefixWorkload, build_stage_items, qps_ladder
from heteropool.scheduling.policies import build_router
from heteropool.sim.profiles import build_profile

CAPACITY = {"h100-nvl": 3600.0, "mi325x": 2100.0, "gaudi3": 630.0}


def main() -> None:
    policies, ladder, stage_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    pool = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {"h100-nvl": 4, "mi325x": 8, "gaudi3": 8}
    params = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
    start, stop, step = (float(x) for x in ladder.split(":"))
    stages = qps_ladder(start, stop, step, duration_s=stage_s)
    for policy in policies.split(","):
        replicas = [
            ReplicaSpec(f"{name}-{i}", build_profile(name), capacity_tokens_per_s=CAPACITY[name])
            for name, count in pool.items()
            for i in range(count)
        ]
        items = build_stage_items(SharedPrefixWorkload(seed=0), stages, 0)
        router = build_router(policy, seed=0, parameters=params if policy == "heteropool" else None)
        sim = FleetSimulation(replicas, router, scrape_interval_s=0.2)
        t0 = time.perf_counter()
        records = sim.run([(s.qps, its) for s, its in zip(stages, items, strict=True)])
        print(f"## {policy} ({time.perf_counter() - t0:.0f} s)\n")
        print(markdown_table([summarize(r, sim.vendors) for r in records]))


if __name__ == "__main__":
    main()
