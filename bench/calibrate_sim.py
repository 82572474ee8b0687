"""Calibrate the simulator's 8B profiles against the published single-vendor and NVIDIA+AMD runs.

No GPU: the published figures are inference-perf stage reports of granite-4.1-8b (TP1, one vLLM
replica per card, shared-prefix workload: 150 groups x 5 prompts, 6000 + 1200 prompt tokens, 1000
output tokens). Each pool is simulated from its sample manifest (the published vLLM flags) under
the published protocol of its run: the same warm-up and QPS ladder, stages drained one after the
other, per-stage figures computed as inference-perf does. Policies: `llm-d` (the published EPP
configuration) and `round-robin` (the published Kubernetes Service baseline).

Writes bench/results/sim_calibration.md. Run: .venv/bin/python bench/calibrate_sim.py
`--set h100-nvl.kv_read_tb_per_s=7.5` tries other efficiencies without editing profiles.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from heteropool.fleet.experiment import plan_pool, run_policy
from heteropool.fleet.report import StageSummary
from heteropool.fleet.workloads import LoadStage, SharedPrefixWorkload, build_stage_items
from heteropool.semantics import parse_manifest
from heteropool.sim import profiles

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@dataclass(frozen=True)
class Published:
    """One published run: its ladder and the figures at the compared QPS (None: not published)."""

    pool: str
    sample: str
    warmup: LoadStage
    ladder: tuple[tuple[float, float], ...]  # (qps, seconds)
    qps: float  # the stage compared with round-robin
    llmd_tps: float
    rr_tps: float
    llmd_ttft: float | None
    rr_ttft: float | None
    peak_tps: float  # best llm-d stage of the ladder
    peak_qps: float
    role: str  # what the point is used for: fitted, a check, or not fittable


# The published "NVIDIA-only" run: its ladder and figures (compared two ways in RUNS).
_NVIDIA_ONLY = Published(
    "NVIDIA-only",
    "nvidia-only.yaml",
    LoadStage(15, 50),
    ((3, 20), (10, 20), (15, 20), (20, 30), (22, 30), (25, 30), (30, 30)),
    30,
    14_645,
    11_404,
    1.46,
    1.29,
    14_645,
    30,
    "",
)

RUNS = (
    # The published "NVIDIA-only" run served from the namespace, Service, EPP and pod labels of the
    # NVIDIA+AMD run, whose 8 MI325X pods match the same selector; its figures equal that 12-pod
    # pool's stage for stage and exceed what 4 H100-NVL can hold in BF16 KV (docs/simulator.md,
    # "Calibration"). So it is compared twice: as labelled (which no H100 profile can meet) and as
    # the 12-pod pool (a check of the NVIDIA+AMD fit on another run).
    dataclasses.replace(_NVIDIA_ONLY, pool="NVIDIA-only (as 4 H100-NVL)", role="not fittable"),
    dataclasses.replace(
        _NVIDIA_ONLY,
        pool="NVIDIA-only (as the 12-pod NVIDIA+AMD pool)",
        sample="nvidia-amd.yaml",
        role="check (same pool as NVIDIA+AMD, another run)",
    ),
    Published(
        "AMD-only",
        "amd-only.yaml",
        LoadStage(15, 50),
        ((3, 20), (10, 20), (15, 20), (20, 25), (25, 25), (30, 25), (40, 25), (50, 25), (60, 25)),
        50,
        14_969,
        8_360,
        0.93,
        20.04,
        16_912,
        60,
        "fitted",
    ),
    Published(
        "Gaudi-only",
        "gaudi-only.yaml",
        LoadStage(10, 50),
        ((3, 30), (8, 30), (15, 30), (25, 30), (35, 30), (50, 30)),
        25,
        4_553,
        3_399,
        1.49,
        27.5,
        5_011,
        50,
        "fitted",
    ),
    Published(
        "NVIDIA+AMD",
        "nvidia-amd.yaml",
        LoadStage(30, 50),
        ((5, 20), (15, 20), (25, 30), (35, 30), (45, 30), (55, 30), (65, 30)),
        45,
        16_876,
        9_513,
        2.55,
        8.54,
        19_421,
        65,
        "fitted (H100 GEMM efficiency)",
    ),
)


def override_profiles(settings: list[str]) -> None:
    """Apply `accelerator.field=value` overrides to the profile table (fitting experiments only)."""
    for s in settings:
        key, _, value = s.partition("=")
        name, _, field = key.partition(".")
        acc = profiles.ACCELERATORS[name]
        profiles.ACCELERATORS[name] = dataclasses.replace(acc, **{field: float(value)})  # type: ignore[arg-type]


def _simulate(run: Published, policy: str, seed: int) -> dict[float, StageSummary]:
    text = (SAMPLES / run.sample).read_text()
    plan = plan_pool(parse_manifest(yaml.safe_load(text)), capacities=policy == "heteropool")
    qps = [q for q, _ in run.ladder]
    stages = [run.warmup] + [LoadStage(q, s) for q, s in run.ladder]
    items = build_stage_items(SharedPrefixWorkload(seed=seed), stages, seed)
    sums = run_policy(plan, policy, qps, items, seed=seed, warmup=run.warmup)
    return {s.qps: s for s in sums}


def _err(sim: float, pub: float) -> str:
    return f"{sim / pub - 1:+.0%}"


def _ratio(sim: float, pub: float) -> str:
    return f"{sim / pub:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench/results/sim_calibration.md")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="accelerator.field=value (fitting only)")
    parser.add_argument("--only", help="run only the pools whose name starts so (no file written)")
    args = parser.parse_args()
    override_profiles(args.set)
    t_all = time.perf_counter()
    rows, ladders = [], []
    for run in RUNS:
        if args.only and not run.pool.startswith(args.only):
            continue
        t0 = time.perf_counter()
        llmd = _simulate(run, "llm-d", args.seed)
        rr = _simulate(run, "round-robin", args.seed)
        a, b = llmd[run.qps], rr[run.qps]
        peak = llmd[run.peak_qps]
        rows.append(
            f"| {run.pool} | {run.role} | {run.qps:g} "
            f"| {run.llmd_tps:,.0f} / {a.output_tokens_per_s:,.0f} ({_err(a.output_tokens_per_s, run.llmd_tps)}) "
            f"| {run.rr_tps:,.0f} / {b.output_tokens_per_s:,.0f} ({_err(b.output_tokens_per_s, run.rr_tps)}) "
            f"| {run.peak_tps:,.0f} @{run.peak_qps:g} / {peak.output_tokens_per_s:,.0f} "
            f"({_err(peak.output_tokens_per_s, run.peak_tps)}) "
            f"| {run.llmd_ttft if run.llmd_ttft is not None else '-'} / {a.ttft_mean_s:.2f} "
            f"| {run.rr_ttft if run.rr_ttft is not None else '-'} / {b.ttft_mean_s:.2f}"
            f"{f' ({_ratio(b.ttft_mean_s, run.rr_ttft)})' if run.rr_ttft else ''} "
            f"| {a.cached_fraction:.0%} / {b.cached_fraction:.0%} |"
        )
        ladders.append(
            f"- {run.pool} (warm-up {run.warmup.qps:g} QPS x {run.warmup.duration_s:g} s): "
            + "; ".join(
                f"{q:g} QPS: llm-d {llmd[q].output_tokens_per_s:,.0f} tok/s, {llmd[q].ttft_mean_s:.2f} s, "
                f"RR {rr[q].output_tokens_per_s:,.0f} tok/s, {rr[q].ttft_mean_s:.2f} s"
                for q, _ in run.ladder
            )
        )
        print(rows[-1], f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.only:
        print("\n".join(ladders))
        return
    elapsed = time.perf_counter() - t_all
    text = _render(rows, ladders, args, elapsed)
    Path(args.out).write_text(text)
    print(text)


TABLE_HEADER = (
    "| pool | role | QPS | llm-d tok/s: published / sim (error) | round-robin tok/s: published / sim (error) "
    "| llm-d peak tok/s: published / sim | llm-d TTFT mean s: published / sim "
    "| round-robin TTFT mean s: published / sim (ratio) | sim prompt tokens cached llm-d / RR |"
)


TABLE_HEADER = (
    "| pool | role | QPS | llm-d tok/s: published / sim (error) | round-robin tok/s: published / sim (error) "
    "| llm-d peak tok/s: published / sim | llm-d TTFT mean s: published / sim "
    "| round-robin TTFT mean s: published / sim (ratio) | sim prompt tokens cached llm-d / RR |"
)


def _render(rows: list[str], ladders: list[str], args: argparse.Namespace, elapsed: float) -> str:
    load = os.getloadavg()[0]
    return f"""# Simulator calibration against the published granite-4.1-8b runs

No GPU was available: every "published" figure is an inference-perf stage report of the published
llm-d benchmark (granite-4.1-8b, TP1, one vLLM replica per card); every "sim" figure is the fleet
simulation of the pool's sample manifest (`samples/`, the published vLLM flags) with the profiles
of `operator/sim/profiles.py`, under the published protocol of that run: its warm-up (not
reported) and QPS ladder, stages drained one after the other, prompts in inference-perf's order,
throughput = output tokens of the stage's requests / (first send .. last completion), TTFT mean
over the stage's requests. Command: `.venv/bin/python bench/calibrate_sim.py` (seed {args.seed},
wall time {elapsed:.0f} s on the shared 2-core dev machine, load average {load:.1f}).

Targets: fitted points within 20% on throughput and within 2x on round-robin TTFT at overload;
an unfitted check within 25%. The published "NVIDIA-only" run is not a 4-pod measurement (its
figures match the 12-pod NVIDIA+AMD pool stage for stage and need more KV than 4 H100-NVL have),
so it is shown both ways and fitted on neither; the H100's GEMM efficiency is fitted on the
NVIDIA+AMD pool instead, with the AMD pods priced by the AMD-only fit. Why, with the
measurements: docs/simulator.md ("Calibration").

{TABLE_HEADER}
|---|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

Every stage of each simulated ladder:

{chr(10).join(ladders)}

How the profiles were fitted, and what does not fit: docs/simulator.md ("Calibration").
"""


if __name__ == "__main__":
    main()
