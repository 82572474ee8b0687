"""Calibrate the simulator's 8B profiles against design section 7 (no GPU: published figures only).

For each single-vendor pool of section 7 it runs the shared-prefix workload (150 groups x 5
prompts, 6000 + 1200 prompt tokens, 1000 output tokens, Poisson arrivals) through the fleet
simulation under the llm-d policy and under round-robin:
  - one cold 60 s stage at the published QPS (the llm-d vs round-robin comparison), and
  - a QPS ladder under llm-d, for the per-pod peak output tokens/s.
Writes bench/results/sim_calibration.md. Run: .venv/bin/python bench/calibrate_sim.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from heteropool.fleet import (
    FleetSimulation,
    LoadStage,
    RandomWorkload,
    ReplicaSpec,
    SharedPrefixWorkload,
    build_stage_items,
)
from heteropool.fleet.report import StageSummary, summarize
from heteropool.gateway.policies import build_router
from heteropool.sim.profiles import build_profile

# pool name -> (profiles and counts, QPS, published llm-d tok/s, published round-robin tok/s,
#               published TTFT mean llm-d / round-robin (s), published per-pod peak tok/s per profile)
POOLS = {
    "NVIDIA-only": ({"h100-nvl": 4}, 30, 14_645, 11_404, None, {"h100-nvl": 3_600}),
    "AMD-only": ({"mi325x": 8}, 50, 14_969, 8_360, (0.93, 20.0), {"mi325x": 2_100}),
    "Gaudi-only": ({"gaudi3": 8}, 25, 4_553, 3_399, (1.49, 27.5), {"gaudi3": 630}),
    "NVIDIA+AMD": ({"h100-nvl": 4, "mi325x": 8}, 45, 16_876, 9_513, None, {}),
}


def _replicas(counts: dict[str, int]) -> list[ReplicaSpec]:
    return [ReplicaSpec(f"{name}-{i}", build_profile(name)) for name, n in counts.items() for i in range(n)]


def _run(counts: dict[str, int], policy: str, stages: list[LoadStage], seed: int) -> list[StageSummary]:
    replicas = _replicas(counts)
    items = build_stage_items(SharedPrefixWorkload(seed=seed), stages, seed)
    sim = FleetSimulation(replicas, build_router(policy, seed=seed))
    records = sim.run([(s.qps, its) for s, its in zip(stages, items, strict=True)])
    vendors = {r.id: r.vendor for r in replicas}
    return [summarize(r, vendors) for r in records]


def _check_30b(seed: int) -> str:
    """One h100-sxm replica, 30b class, a burst of 1000 random 2000-in/100-out requests (GS-q32's shape)."""
    wl = RandomWorkload(input_len=2000, output_len=100, seed=seed)
    items = build_stage_items(wl, [LoadStage(1000, 1.0)], seed)[0]
    replica = ReplicaSpec("h100-sxm-0", build_profile("h100-sxm", "30b"))
    (record,) = FleetSimulation([replica], build_router("round-robin", seed=seed)).run([(1000, items)])
    s = summarize(record, {})
    total = s.output_tokens_per_s * (1 + wl.input_len / wl.output_len)
    return (
        f"| h100-sxm, 30b (FP8) | burst of {s.requests} random 2000-in / 100-out | {total:,.0f} total tok/s, "
        f"ITL mean {s.itl_mean_s * 1000:.0f} ms | 3,195 total tok/s, TPOT 86.6 ms (Qwen3-32B **BF16**, vLLM 0.11) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench/results/sim_calibration.md")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage-s", type=float, default=60.0)
    args = parser.parse_args()
    t_all = time.perf_counter()
    gain_rows, peak_rows, ladder_blocks = [], [], []
    for pool, (counts, qps, pub_llmd, pub_rr, pub_ttft, pub_peak) in POOLS.items():
        pods = sum(counts.values())
        t0 = time.perf_counter()
        at = {p: _run(counts, p, [LoadStage(qps, args.stage_s)], args.seed)[0] for p in ("llm-d", "round-robin")}
        llmd, rr = at["llm-d"], at["round-robin"]
        sim_gain = llmd.output_tokens_per_s / rr.output_tokens_per_s - 1
        pub_gain = pub_llmd / pub_rr - 1
        ttft = f"{llmd.ttft_mean_s:.2f} / {rr.ttft_mean_s:.2f}"
        pub_t = f"{pub_ttft[0]} / {pub_ttft[1]}" if pub_ttft else "-"
        gain_rows.append(
            f"| {pool} | {pods} | {qps} | {pub_llmd:,} / {pub_rr:,} | {llmd.output_tokens_per_s:,.0f} / "
            f"{rr.output_tokens_per_s:,.0f} | {llmd.output_tokens_per_s / pub_llmd - 1:+.0%} / "
            f"{rr.output_tokens_per_s / pub_rr - 1:+.0%} | {pub_gain:+.0%} | {sim_gain:+.0%} | {pub_t} | {ttft} "
            f"| {llmd.cached_fraction:.0%} / {rr.cached_fraction:.0%} |"
        )
        if len(counts) == 1:
            (name,) = counts
            ladder = [LoadStage(round(qps * f, 1), args.stage_s) for f in (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)]
            sums = _run(counts, "llm-d", ladder, args.seed)
            best = max(s.output_tokens_per_s for s in sums) / pods
            cold = llmd.output_tokens_per_s / pods
            peak = max(best, cold)
            peak_rows.append(
                f"| {name} | {pods} | {pub_peak[name]:,} | {peak:,.0f} | {peak / pub_peak[name] - 1:+.0%} |"
            )
            ladder_blocks.append(
                f"{pool}, llm-d, QPS ladder (warm caches carry over between stages): per-pod output tok/s "
                + ", ".join(f"{s.qps:g} QPS: {s.output_tokens_per_s / pods:,.0f}" for s in sums)
            )
        print(f"{pool}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    check_30b = _check_30b(args.seed)
    elapsed = time.perf_counter() - t_all
    text = _render(gain_rows, peak_rows, ladder_blocks, check_30b, args, elapsed)
    Path(args.out).write_text(text)
    print(text)


def _render(gain_rows: list[str], peak_rows: list[str], ladders: list[str], check_30b: str,
            args: argparse.Namespace, elapsed: float) -> str:
    return f"""# Simulator calibration against design section 7 (8B class)

No GPU was available: every "published" figure is from design section 7 (an llm-d benchmark of
granite-4.1-8b, TP1, one vLLM replica per card); every "sim" figure is the fleet simulation with
the profiles in `operator/sim/profiles.py`. Command: `.venv/bin/python bench/calibrate_sim.py`
(seed {args.seed}, {args.stage_s:g} s stages, wall time {elapsed:.0f} s on the 2-core dev machine).
Workload: shared prefix, 150 groups x 5 prompts, 6000-token system prompt + 1200-token question,
1000 output tokens, Poisson arrivals. Policies: `llm-d` and `round-robin` from
`heteropool.gateway.policies.build_router`.

## Per-pod peak output tokens/s (target: within 15%)

Peak = best stage of an llm-d QPS ladder (0.2x .. 1.2x the pool's published QPS), or the cold
stage at the published QPS if higher.

| profile | pods | published | sim | sim vs published |
|---|---:|---:|---:|---:|
{chr(10).join(peak_rows)}

{chr(10).join('- ' + x for x in ladders)}

## llm-d vs round-robin at the published QPS (cold caches, one {args.stage_s:g} s stage, drained)

Output tok/s = output tokens of the stage's requests / (last completion - stage start).

| pool | pods | QPS | published llm-d / RR tok/s | sim llm-d / RR tok/s | sim vs published | published gain | sim gain | published TTFT mean llm-d / RR s | sim TTFT mean s | sim prompt tokens cached |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(gain_rows)}

The NVIDIA+AMD row was not fitted (its two profiles were fitted on the single-vendor rows):
it is a check of the model, not of the fit, and the model fails it for llm-d: the simulated
mixed pool reaches about the sum of its single-vendor capacities (llm-d sends ~54% of requests to
the 4 H100s because the MI325X pods build waiting queues), while the published run got less
than the AMD-only pool alone. Not modelled, and candidate causes: the gateway itself (design
section 1: one CPU-bound scheduler replica dropping requests at 55-85 QPS; we give routing zero
cost), and vLLM behaviour the engine model lacks. Until explained, treat simulated mixed-pool
llm-d figures as optimistic; cross-policy comparisons on mixed pools rest on this open point.

## 30B class: a prior, not a fit

No ~30B figure in design section 7. One published shape (research/vendors.md 5.3, GS-q32):

| sim | workload | sim result | published |
|---|---|---|---|
{check_30b}

The sim is FP8 (weights and KV); the published run is BF16, whose peak FLOP/s is half of FP8's on
an H100, which explains about 2x of this prefill-bound workload's throughput; the sim's result is
above that, so the 30B class is probably optimistic by some tens of percent. Its ITL is far worse
than the published TPOT: in a burst, our 8192-token chunked-prefill steps (~0.9 s each at 30B)
stall every decode, more than the published run shows. Treat 30B figures as relative only; the
30B profiles and the h100-sxm / mi300x / gaudi2 profiles are extrapolations with no published
pool figure to check.

## How the profiles were fitted

See docs/simulator.md. In short: hardware facts (HBM size and bandwidth, dense FP8 TFLOP/s) and
vLLM defaults come from research/vendors.md sections 2 and 5; two efficiencies per accelerator
were then tuned by hand on the cold single-stage runs above: the GEMM efficiency (sets prefill
cost, i.e. what a prefix-cache miss costs, and with it the round-robin gap) and the effective KV
read rate (sets the decode cost at long context, i.e. the llm-d throughput).
TTFT is not a fitted target: our stages are overloaded for 60 s, so absolute TTFTs are higher than
published; the llm-d/round-robin TTFT ratio has the published sign and order of magnitude.
"""


if __name__ == "__main__":
    main()
