"""The published 3-vendor experiment's five pools in the fleet simulation, every policy, and the targets.

Pools: NVIDIA-only 4x H100-NVL, AMD-only 8x MI325X, Gaudi-only 8x Gaudi 3, NVIDIA+AMD 4+8, all
three 4+8+8, each its sample manifest with the published runs' vLLM flags. Shared-prefix workload
on the QPS ladder 5..85 after the published 30 QPS x 50 s warm-up, under the published protocol
(inference-perf: stages drained one after the other); the random (no reuse) and chat workloads on
the 3-vendor pool. Run exactly as `heteropool simulate` runs it (same code: heteropool.fleet.experiment).
Writes bench/results/pools_<pool>_<workload>.{csv,png} (+ _ttft.png) and bench/results/pools_tables.md
(targets checked, one table per run).

    .venv/bin/python bench/pools.py                       # everything (~4-6 min on 2 cores)
    .venv/bin/python bench/pools.py --only 3vendor:shared-prefix --stage-seconds 20
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from heteropool.fleet.cli import DEFAULT_POLICIES, DEFAULT_QPS, DEFAULT_WARMUP, qps_list
from heteropool.fleet.experiment import build_items, plan_pool, results_csv, run_policies
from heteropool.fleet.plots import write_plots
from heteropool.fleet.report import StageSummary, markdown_table
from heteropool.fleet.workloads import LoadStage
from heteropool.manifests import load_pools

RESULTS = Path(__file__).resolve().parent / "results"

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
# Each pool's sample manifest: the published runs' vLLM flags per vendor.
POOLS = {
    "nvidia": "nvidia-only.yaml",
    "amd": "amd-only.yaml",
    "gaudi": "gaudi-only.yaml",
    "nvidia-amd": "nvidia-amd.yaml",
    "3vendor": "granite-3vendor.yaml",
}
# The published 3-vendor run's warm-up, before every ladder here (not reported).
WARMUP = LoadStage(*DEFAULT_WARMUP)
# Published llm-d vs round-robin points (the published runs): (QPS, llm-d tok/s, round-robin tok/s).
PUBLISHED = {
    "nvidia": (30, 14_645, 11_404),
    "amd": (50, 14_969, 8_360),
    "gaudi": (25, 4_553, 3_399),
    "nvidia-amd": (45, 16_876, 9_513),
}
RUNS = [(p, "shared-prefix") for p in POOLS] + [("3vendor", "random"), ("3vendor", "chat")]


def manifest(pool: str) -> str:
    return (SAMPLES / POOLS[pool]).read_text()


PARAMETERS: dict[str, dict[str, object]] = {}  # policy -> parameter overrides (--parameters)


def run_one(
    pool: str, workload: str, qps: list[float], stage_s: float, seed: int, jobs: int
) -> dict[str, list[StageSummary]]:
    plan = plan_pool(load_pools(manifest(pool))[0])
    items = build_items(workload, qps, stage_s, seed, warmup=WARMUP)
    t0 = time.perf_counter()
    results = run_policies(
        plan,
        DEFAULT_POLICIES,
        qps,
        items,
        seed=seed,
        jobs=jobs,
        parameters=PARAMETERS,
        warmup=WARMUP,
        progress=lambda p, i: print(
            f"  {pool}/{workload} {p} {qps[i]:g} QPS done ({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
            flush=True,
        ),
    )
    stem = f"pools_{pool}_{workload}"
    groups = list(dict.fromkeys(plan.groups.values()))
    (RESULTS / f"{stem}.csv").write_text(results_csv(results, groups))
    with tempfile.TemporaryDirectory() as tmp:
        for png in write_plots(results, Path(tmp), f"{plan.describe()} - {workload}, {stage_s:g} s stages"):
            shutil.copy(png, RESULTS / (f"{stem}.png" if png.name == "throughput.png" else f"{stem}_ttft.png"))
    return results


def run_seeds(seeds: list[int], qps: list[float], stage_s: float, jobs: int) -> None:
    """llm-d and heteropool on every pool for several seeds: single runs move +-5-10% per stage."""
    lines = ["pool,seed,policy,qps,output_tokens_per_s,ttft_mean_s,ttft_p99_s,failed"]
    for pool in POOLS:
        plan = plan_pool(load_pools(manifest(pool))[0])
        for seed in seeds:
            items = build_items("shared-prefix", qps, stage_s, seed, warmup=WARMUP)
            results = run_policies(
                plan, ("llm-d", "heteropool"), qps, items, seed=seed, jobs=jobs, parameters=PARAMETERS, warmup=WARMUP
            )
            print(f"  seeds: {pool} seed {seed} done", file=sys.stderr, flush=True)
            for policy, stages in results.items():
                lines += [
                    f"{pool},{seed},{policy},{s.qps:g},{s.output_tokens_per_s:.1f},{s.ttft_mean_s:.4f},"
                    f"{s.ttft_p99_s:.4f},{s.failures}"
                    for s in stages
                ]
    (RESULTS / "pools_seeds.csv").write_text("\n".join(lines) + "\n")


def seeds_table() -> str:
    rows = list(csv.DictReader(io.StringIO((RESULTS / "pools_seeds.csv").read_text())))
    by: dict[tuple[str, str, str, str], dict[str, str]] = {
        (r["pool"], r["seed"], r["policy"], r["qps"]): r for r in rows
    }
    seeds = sorted({r["seed"] for r in rows}, key=int)
    qps = list(dict.fromkeys(r["qps"] for r in rows))
    out = [
        f"heteropool / llm-d output tok/s, mean over seeds {', '.join(seeds)} (30 s stages), and p99 TTFT at the top "
        "of the ladder (mean over seeds):\n",
        "| pool | " + " | ".join(f"{q} QPS" for q in qps) + " | worst stage | mean | p99 TTFT s hp / llm-d | failed |",
        "|---|" + "---:|" * (len(qps) + 2) + "---|---:|",
    ]
    for pool in POOLS:
        ratios = []
        for q in qps:
            rs = [
                float(by[(pool, sd, "heteropool", q)]["output_tokens_per_s"])
                / float(by[(pool, sd, "llm-d", q)]["output_tokens_per_s"])
                for sd in seeds
            ]
            ratios.append(sum(rs) / len(rs))
        p99 = [
            sum(float(by[(pool, sd, pol, qps[-1])]["ttft_p99_s"]) for sd in seeds) / len(seeds)
            for pol in ("heteropool", "llm-d")
        ]
        failed = sum(int(r["failed"]) for r in rows if r["pool"] == pool)
        out.append(
            f"| {pool} | "
            + " | ".join(f"{r:.3f}" for r in ratios)
            + f" | {min(ratios):.3f} | {sum(ratios) / len(ratios):.3f} | {p99[0]:.2f} / {p99[1]:.2f} | {failed} |"
        )
    return "\n".join(out) + "\n"


def load_csv(pool: str, workload: str) -> dict[str, list[dict[str, str]]]:
    rows = list(csv.DictReader(io.StringIO((RESULTS / f"pools_{pool}_{workload}.csv").read_text())))
    out: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        out.setdefault(r["policy"], []).append(r)
    return out


def _f(row: dict[str, str], key: str) -> float:
    return float(row[key])


def pool_table(pool: str, workload: str) -> str:
    """Per QPS: every policy's output tok/s, mean and p99 TTFT, failures."""
    data = load_csv(pool, workload)
    policies = [p for p in DEFAULT_POLICIES if p in data]
    head = (
        "| QPS | "
        + " | ".join(f"{p} tok/s" for p in policies)
        + " | TTFT mean s ("
        + " / ".join(policies)
        + ") | TTFT p99 s ("
        + " / ".join(policies)
        + ") | failed |\n"
    )
    head += "|---:|" + "---:|" * len(policies) + "---|---|---:|\n"
    rows = []
    for i, row in enumerate(data[policies[0]]):
        cells = [data[p][i] for p in policies]
        rows.append(
            f"| {row['qps']} | "
            + " | ".join(f"{_f(c, 'output_tokens_per_s'):,.0f}" for c in cells)
            + " | "
            + " / ".join(f"{_f(c, 'ttft_mean_s'):.2f}" for c in cells)
            + " | "
            + " / ".join(f"{_f(c, 'ttft_p99_s'):.2f}" for c in cells)
            + f" | {sum(int(c['failed']) for c in cells)} |"
        )
    return head + "\n".join(rows) + "\n"


def targets() -> str:
    """The 3-vendor targets, checked on the recorded CSVs."""
    out = []
    data = load_csv("3vendor", "shared-prefix")
    hp, rr, llmd = data["heteropool"][-1], data["round-robin"][-1], data["llm-d"][-1]
    q = hp["qps"]

    def line(name: str, value: str, ok: bool) -> None:
        out.append(f"| {name} | {value} | {'met' if ok else '**missed**'} |")

    out.append(f"3-vendor pool (4 H100-NVL + 8 MI325X + 8 Gaudi 3), shared-prefix, top of the ladder ({q} QPS):\n")
    out.append("| target | measured | |\n|---|---|---|")
    ratio = _f(hp, "output_tokens_per_s") / _f(rr, "output_tokens_per_s")
    line("heteropool >= 2.0x round-robin output tok/s", f"{ratio:.2f}x", ratio >= 2.0)
    ttft = _f(rr, "ttft_mean_s") / max(_f(hp, "ttft_mean_s"), 1e-9)
    line(
        "heteropool >= 10x lower mean TTFT than round-robin",
        f"{ttft:.1f}x ({_f(hp, 'ttft_mean_s'):.2f} vs {_f(rr, 'ttft_mean_s'):.2f} s)",
        ttft >= 10,
    )
    sat = _f(hp, "output_tokens_per_s") / _f(llmd, "output_tokens_per_s")
    line("heteropool >= 1.15x llm-d output tok/s at saturation", f"{sat:.2f}x", sat >= 1.15)
    p99 = (_f(hp, "ttft_p99_s"), _f(llmd, "ttft_p99_s"))
    line("heteropool p99 TTFT lower than llm-d's", f"{p99[0]:.2f} vs {p99[1]:.2f} s", p99[0] < p99[1])
    failed = sum(int(r["failed"]) for rows in data.values() for r in rows)
    line("zero failed requests (every policy, every stage)", str(failed), failed == 0)
    out.append("\nSingle-vendor pools, heteropool / llm-d output tok/s per stage (target: >= 0.97):\n")
    out.append("| pool | " + " | ".join(f"{r['qps']} QPS" for r in data["heteropool"]) + " | worst | |")
    out.append("|---|" + "---:|" * (len(data["heteropool"]) + 1) + "---|")
    for pool in ("nvidia", "amd", "gaudi"):
        d = load_csv(pool, "shared-prefix")
        ratios = [
            _f(a, "output_tokens_per_s") / _f(b, "output_tokens_per_s")
            for a, b in zip(d["heteropool"], d["llm-d"], strict=True)
        ]
        worst = min(ratios)
        out.append(
            f"| {pool} | "
            + " | ".join(f"{r:.3f}" for r in ratios)
            + f" | {worst:.3f} | {'met' if worst >= 0.97 else '**missed**'} |"
        )
    out.append(
        "\nNo-reuse and chat workloads on the 3-vendor pool, prefix-aware policy / least-request output tok/s:\n"
    )
    out.append("| workload | policy | " + " | ".join(f"{r['qps']} QPS" for r in data["heteropool"]) + " | worst |")
    out.append("|---|---|" + "---:|" * (len(data["heteropool"]) + 1))
    for workload in ("random", "chat"):
        d = load_csv("3vendor", workload)
        for policy in ("llm-d", "heteropool"):
            ratios = [
                _f(a, "output_tokens_per_s") / _f(b, "output_tokens_per_s")
                for a, b in zip(d[policy], d["least-request"], strict=True)
            ]
            out.append(
                f"| {workload} | {policy} | " + " | ".join(f"{r:.3f}" for r in ratios) + f" | {min(ratios):.3f} |"
            )
    return "\n".join(out) + "\n"


def write_report(stage_s: float, seed: int) -> None:
    parts = [f"<!-- generated by bench/pools.py --report ({stage_s:g} s stages, seed {seed}) -->\n"]
    parts.append(targets())
    if (RESULTS / "pools_seeds.csv").exists():
        parts.append("\n" + seeds_table())
    for pool, workload in RUNS:
        if (RESULTS / f"pools_{pool}_{workload}.csv").exists():
            plan = plan_pool(load_pools(manifest(pool))[0])
            parts.append(
                f"\n### {pool} ({plan.describe()}), {workload}\n\n{pool_table(pool, workload)}\n"
                f"![throughput](pools_{pool}_{workload}.png) ![TTFT](pools_{pool}_{workload}_ttft.png)\n"
            )
    (RESULTS / "pools_tables.md").write_text("".join(p if p.endswith("\n") else p + "\n" for p in parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated POOL:WORKLOAD runs (default: all)")
    parser.add_argument("--stage-seconds", type=float, default=30.0)
    parser.add_argument("--qps", type=qps_list, default=",".join(f"{q:g}" for q in DEFAULT_QPS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the llm-d vs heteropool sweep ('' to skip)")
    parser.add_argument(
        "--parameters", default="{}", help='JSON policy -> overrides, e.g. {"heteropool": {"weights": {...}}}'
    )
    parser.add_argument("--report", action="store_true", help="only rewrite pools_tables.md from the recorded CSVs")
    args = parser.parse_args()
    if args.report:
        write_report(args.stage_seconds, args.seed)
        return
    qps = list(args.qps)
    PARAMETERS.update(json.loads(args.parameters))
    runs = RUNS if not args.only else [tuple(x.split(":", 1)) for x in args.only.split(",")]
    if args.seeds and not args.only:
        run_seeds([int(x) for x in args.seeds.split(",")], qps, args.stage_seconds, args.jobs)
    for pool, workload in runs:
        t0 = time.perf_counter()
        results = run_one(pool, workload, qps, args.stage_seconds, args.seed, args.jobs)
        print(f"## {pool} / {workload} ({time.perf_counter() - t0:.0f} s wall)\n")
        for policy, stages in results.items():
            print(f"### {policy}\n\n{markdown_table(stages)}")
    write_report(args.stage_seconds, args.seed)


if __name__ == "__main__":
    main()
