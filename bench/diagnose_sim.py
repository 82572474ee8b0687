"""What binds a simulated replica: KV blocks, max-num-seqs, the token budget, or step time.

Runs one pool sample through one policy (its published warm-up, then one stage) and prints, per
replica, the engine's limits and what it did: KV capacity, peak and mean running sequences,
time-weighted waiting queue, share of steps that left waiting requests queued with KV full
(blocks), at max-num-seqs, or with the token budget spent, preemptions, prefix-cache hit rate,
mean decode batch and step time. The measurements behind docs/simulator.md ("Calibration").

Run: .venv/bin/python bench/diagnose_sim.py samples/nvidia-only.yaml --policy round-robin --qps 30
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import yaml
from calibrate_sim import override_profiles

from heteropool.fleet.experiment import SERVICE_BASELINE, plan_pool
from heteropool.fleet.report import summarize
from heteropool.fleet.simulation import FleetSimulation
from heteropool.fleet.workloads import LoadStage, SharedPrefixWorkload, build_stage_items
from heteropool.scheduling.policies import build_router
from heteropool.semantics import parse_manifest
from heteropool.sim.engine import Engine


class _Probe:
    """Per-engine counters gathered around `Engine.step` (the engine itself stays untouched)."""

    def __init__(self) -> None:
        self.steps = 0
        self.time = 0.0
        self.running_time = 0.0  # sum of running x step duration
        self.waiting_time = 0.0
        self.decode_seqs = 0
        self.peak_running = 0
        self.blocked: defaultdict[str, int] = defaultdict(int)  # why waiting requests stayed queued, in steps
        self.kv_usage_time = 0.0


def _instrument(probes: dict[int, _Probe]) -> None:
    original = Engine.step

    def step(self: Engine):
        result = original(self)
        if result is None:
            return None
        p = probes.setdefault(id(self), _Probe())
        d = result.duration_s
        p.steps += 1
        p.time += d
        p.running_time += self.num_running * d
        p.waiting_time += self.num_waiting * d
        p.kv_usage_time += self.kv_usage() * d
        p.decode_seqs += result.num_decode_seqs
        p.peak_running = max(p.peak_running, self.num_running)
        if self.num_waiting:
            cfg = self.config
            if self.num_running >= cfg.max_num_seqs:
                p.blocked["max-num-seqs"] += 1
            elif result.num_prefill_tokens + result.num_decode_seqs >= cfg.max_num_batched_tokens:
                p.blocked["token budget"] += 1
            else:
                p.blocked["kv blocks"] += 1
        return result

    Engine.step = step  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sample", type=Path)
    parser.add_argument("--policy", default="llm-d")
    parser.add_argument("--qps", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", default="15:50", help="QPS:SECONDS of the unreported warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="accelerator.field=value (experiments only)")
    args = parser.parse_args()
    override_profiles(args.set)

    plan = plan_pool(parse_manifest(yaml.safe_load(args.sample.read_text())), capacities=args.policy == "heteropool")
    wq, ws = (float(x) for x in args.warmup.split(":"))
    stages = [LoadStage(wq, ws), LoadStage(args.qps, args.seconds)]
    items = build_stage_items(SharedPrefixWorkload(seed=args.seed), stages, args.seed)
    params = SERVICE_BASELINE if args.policy == "round-robin" else None
    sim = FleetSimulation(
        plan.replicas, build_router(args.policy, seed=args.seed, parameters=params), scrape_interval_s=0.2
    )
    probes: dict[int, _Probe] = {}
    _instrument(probes)
    t0 = time.perf_counter()
    sim.run([(wq, items[0])])
    probes.clear()  # report the measured stage only
    engines = {r.id: sim.engine(r.id) for r in plan.replicas}
    before = {
        rid: (e.stats.preemptions, e.stats.prefix_cache_queries, e.stats.prefix_cache_hits)
        for rid, e in engines.items()
    }
    (record,) = sim.run([(args.qps, items[1])])
    wall = time.perf_counter() - t0
    s = summarize(record, plan.groups)
    print(
        f"{args.sample.name} {args.policy} @ {args.qps:g} QPS x {args.seconds:g} s: "
        f"{s.output_tokens_per_s:,.0f} tok/s, TTFT mean {s.ttft_mean_s:.2f} s (p50 {s.ttft_p50_s:.2f}), "
        f"ITL {s.itl_mean_s * 1000:.1f} ms, cached {s.cached_fraction:.0%}, stage {s.duration_s:.0f} s; "
        f"wall {wall:.0f} s"
    )
    print(
        "| replica | KV tokens | max-num-seqs | token budget | peak running | mean running | mean waiting "
        "| mean KV use | waiting left by: KV / seqs / budget (steps) | preemptions | prefix hit "
        "| decode batch | step ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in plan.replicas:
        e = engines[r.id]
        p = probes.get(id(e), _Probe())
        pre0, q0, h0 = before[r.id]
        q, h = e.stats.prefix_cache_queries - q0, e.stats.prefix_cache_hits - h0
        t = p.time or 1.0
        print(
            f"| {r.id} | {e.config.num_gpu_blocks * e.block_size:,} | {e.config.max_num_seqs} "
            f"| {e.config.max_num_batched_tokens} | {p.peak_running} | {p.running_time / t:.0f} "
            f"| {p.waiting_time / t:.0f} | {p.kv_usage_time / t:.0%} | {p.blocked['kv blocks']} / "
            f"{p.blocked['max-num-seqs']} / {p.blocked['token budget']} "
            f"| {e.stats.preemptions - pre0} | {h / q if q else 0:.0%} "
            f"| {p.decode_seqs / max(1, p.steps):.0f} | {1000 * p.time / max(1, p.steps):.1f} |"
        )


if __name__ == "__main__":
    main()
