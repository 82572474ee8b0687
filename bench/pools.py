"""The published 3-vendor experiment's five pools in the fleet simulation, every policy, and the targets.

Pools (design section 1/7): NVIDIA-only 4x H100-NVL, AMD-only 8x MI325X, Gaudi-only 8x Gaudi 3
(block size 128, max-num-seqs 256), NVIDIA+AMD 4+8, all three 4+8+8. Shared-prefix workload on the
QPS ladder 5..85; the random (no reuse) and chat workloads on the 3-vendor pool. Each pool is a
HeteroInferencePool manifest, run exactly as `heteropool simulate` runs it (same code:
heteropool.fleet.experiment). Writes bench/results/pools_<pool>_<workload>.{csv,png} (+ _ttft.png)
and bench/results/pools.md.

    .venv/bin/python bench/pools.py                       # everything (~10-15 min on 2 cores)
    .venv/bin/python bench/pools.py --only 3vendor:shared-prefix --stage-seconds 20
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from heteropool.fleet.cli import DEFAULT_POLICIES, DEFAULT_QPS
from heteropool.fleet.experiment import build_items, plan_pool, results_csv, run_policies
from heteropool.fleet.plots import write_plots
from heteropool.fleet.report import StageSummary, markdown_table
from heteropool.manifests import load_pools

RESULTS = Path(__file__).resolve().parent / "results"

_GROUPS = {
    "nvidia": "- {vendor: nvidia, accelerator: h100-nvl, replicas: 4}",
    "amd": "- {vendor: amd, accelerator: mi325x, replicas: 8}",
    "gaudi": "- {vendor: intel-gaudi, accelerator: gaudi3, replicas: 8, vllm: {blockSize: 128, maxNumSeqs: 256}}",
}
POOLS = {
    "nvidia": ["nvidia"],
    "amd": ["amd"],
    "gaudi": ["gaudi"],
    "nvidia-amd": ["nvidia", "amd"],
    "3vendor": ["nvidia", "amd", "gaudi"],
}
# Published llm-d vs round-robin points (design section 7): (QPS, llm-d tok/s, round-robin tok/s).
PUBLISHED = {
    "nvidia": (30, 14_645, 11_404),
    "amd": (50, 14_969, 8_360),
    "gaudi": (25, 4_553, 3_399),
    "nvidia-amd": (45, 16_876, 9_513),
}
RUNS = [(p, "shared-prefix") for p in POOLS] + [("3vendor", "random"), ("3vendor", "chat")]


def manifest(pool: str) -> str:
    groups = "\n    ".join(_GROUPS[g] for g in POOLS[pool])
    return (
        "apiVersion: heteropool.dev/v1alpha1\nkind: HeteroInferencePool\n"
        f"metadata: {{name: granite-{pool}}}\n"
        "spec:\n  model: {name: ibm-granite/granite-4.1-8b}\n"
        f"  vendors:\n    {groups}\n"
    )


def run_one(pool: str, workload: str, qps: list[float], stage_s: float, seed: int, jobs: int) -> dict[str, list[StageSummary]]:
    plan = plan_pool(load_pools(manifest(pool))[0])
    items = build_items(workload, qps, stage_s, seed)
    t0 = time.perf_counter()
    results = run_policies(plan, DEFAULT_POLICIES, qps, items, seed=seed, jobs=jobs,
                           progress=lambda p, i: print(f"  {pool}/{workload} {p} {qps[i]:g} QPS done "
                                                       f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True))
    stem = f"pools_{pool}_{workload}"
    groups = list(dict.fromkeys(plan.groups.values()))
    (RESULTS / f"{stem}.csv").write_text(results_csv(results, groups))
    with tempfile.TemporaryDirectory() as tmp:
        for png in write_plots(results, Path(tmp), f"{plan.describe()} - {workload}, {stage_s:g} s stages"):
            shutil.copy(png, RESULTS / (f"{stem}.png" if png.name == "throughput.png" else f"{stem}_ttft.png"))
    return results


def load_csv(pool: str, workload: str) -> dict[str, list[dict[str, str]]]:
    rows = list(csv.DictReader(io.StringIO((RESULTS / f"pools_{pool}_{workload}.csv").read_text())))
    out: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        out.setdefault(r["policy"], []).append(r)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated POOL:WORKLOAD runs (default: all)")
    parser.add_argument("--stage-seconds", type=float, default=30.0)
    parser.add_argument("--qps", default=",".join(f"{q:g}" for q in DEFAULT_QPS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    qps = [float(q) for q in args.qps.split(",")]
    runs = RUNS if not args.only else [tuple(x.split(":", 1)) for x in args.only.split(",")]
    for pool, workload in runs:
        t0 = time.perf_counter()
        results = run_one(pool, workload, qps, args.stage_seconds, args.seed, args.jobs)
        print(f"## {pool} / {workload} ({time.perf_counter() - t0:.0f} s wall)\n")
        for policy, stages in results.items():
            print(f"### {policy}\n\n{markdown_table(stages)}")


if __name__ == "__main__":
    main()
