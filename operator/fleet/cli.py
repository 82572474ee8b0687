"""`heteropool simulate`: compare routing policies on a pool manifest's vendor mix, in simulated time.

    heteropool simulate samples/granite-3vendor.yaml [--workload shared-prefix|random|chat|mixed-priority]
        [--qps 5,15,25,40,55,70,85] [--policies round-robin,least-request,llm-d,heteropool]
        [--stage-seconds 30] [--warmup 30:50] [--protocol inference-perf|continuous]
        [--seed 0] [--output out/simulate] [--jobs N] [--ignore-priority]

No cluster, no GPU: one simulated vLLM replica per desired replica of the manifest. The default
protocol is the published benchmarks' (inference-perf): an unreported warm-up stage, then each
stage sends qps x seconds requests and the next starts when they have all finished; `continuous`
starts every stage on the clock instead and carries backlog over. Prints a per-stage table per
policy and a comparison at the top of the ladder; writes `results.csv`, `results.md`,
`throughput.png` and `ttft.png` into the output folder. Progress goes to stderr. With
`--workload mixed-priority` requests carry priorities (docs/priority.md) and the report adds
per-priority TTFT, throughput and rejections; `--ignore-priority` routes them all at the default
priority, for comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from heteropool.names import POLICY_NAMES

if TYPE_CHECKING:
    from heteropool.fleet.experiment import PoolPlan
    from heteropool.fleet.report import StageSummary

__all__ = ["add_arguments", "run", "DEFAULT_POLICIES", "DEFAULT_QPS", "DEFAULT_STAGE_S", "DEFAULT_WARMUP", "PROTOCOLS"]

# The published 3-vendor ladder: a 30 QPS x 50 s warm-up, then 30 s stages.
DEFAULT_QPS = (5.0, 15.0, 25.0, 40.0, 55.0, 70.0, 85.0)
DEFAULT_STAGE_S = 30.0
DEFAULT_WARMUP = (30.0, 50.0)
PROTOCOLS = ("inference-perf", "continuous")
DEFAULT_OUTPUT = "out/simulate"
DEFAULT_POLICIES = tuple(reversed(POLICY_NAMES))  # the baselines first, heteropool last

# The published 3-vendor benchmark pool with its vLLM flags, used when no manifest is given.
_EMBEDDED_POOL = """\
apiVersion: heteropool.dev/v1alpha1
kind: HeteroInferencePool
metadata: {name: granite}
spec:
  model: {name: ibm-granite/granite-4.1-8b}
  vendors:
    - {vendor: nvidia, accelerator: h100-nvl, replicas: 4,
       vllm: {blockSize: 16, maxNumBatchedTokens: 2048, gpuMemoryUtilization: 0.85}}
    - {vendor: amd, accelerator: mi325x, replicas: 8,
       vllm: {blockSize: 16, maxNumBatchedTokens: 2048, gpuMemoryUtilization: 0.85}}
    - {vendor: intel-gaudi, accelerator: gaudi3, replicas: 8,
       vllm: {blockSize: 128, maxNumSeqs: 256, maxModelLen: 9216, maxNumBatchedTokens: 16384,
              gpuMemoryUtilization: 0.75, dtype: bfloat16}}
"""


def qps_list(text: str) -> tuple[float, ...]:
    """An argparse type: comma-separated positive request rates (`5,15,25`)."""
    values: list[float] = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated numbers like 5,15,25, got {part.strip()!r}"
            ) from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"every QPS must be a positive number, got {part.strip()!r}")
        values.append(value)
    return tuple(values)


def seed_list(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated integer seeds (`0,1,2`), for sweeps over several runs."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 0,1,2, got {text!r}") from None


def _policies(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICY_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown policy {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"expected some of {', '.join(POLICY_NAMES)}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a policy is listed twice in {text!r}")
    return names


def _warmup(text: str) -> tuple[float, float] | None:
    if text.strip().lower() in ("none", "0", "off"):
        return None
    qps, sep, seconds = text.partition(":")
    try:
        pair = (float(qps), float(seconds))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected QPS:SECONDS like 30:50 (or none), got {text!r}") from None
    if not sep or not all(0 < v < float("inf") for v in pair):
        raise argparse.ArgumentTypeError(f"expected QPS:SECONDS with both > 0 like 30:50 (or none), got {text!r}")
    return pair


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "pool",
        nargs="?",
        metavar="POOL.yaml",
        help="a HeteroInferencePool manifest (default: the embedded 4 H100-NVL + 8 MI325X + 8 Gaudi 3 pool)",
    )
    parser.add_argument("--name", help="which pool, when the file holds several")
    parser.add_argument(
        "--workload",
        choices=("shared-prefix", "random", "chat", "mixed-priority"),
        default="shared-prefix",
        help="request mix: shared-prefix (the published benchmark's), random, chat or mixed-priority "
        "(20%% high-priority chat, 80%% low-priority long-context batch) (default shared-prefix)",
    )
    parser.add_argument(
        "--ignore-priority",
        action="store_true",
        help="route every request at the default priority (the comparison for mixed-priority)",
    )
    parser.add_argument(
        "--qps",
        type=qps_list,
        default=DEFAULT_QPS,
        help="the QPS ladder, comma-separated (default: 5,15,25,40,55,70,85)",
    )
    parser.add_argument(
        "--policies",
        type=_policies,
        default=DEFAULT_POLICIES,
        help=f"comma-separated routing policies (default: {','.join(DEFAULT_POLICIES)})",
    )
    parser.add_argument(
        "--stage-seconds",
        "--stage-s",
        dest="stage_seconds",
        type=_positive,
        default=DEFAULT_STAGE_S,
        help=f"simulated seconds of arrivals per stage (default: {DEFAULT_STAGE_S:g})",
    )
    parser.add_argument(
        "--warmup",
        type=_warmup,
        default=DEFAULT_WARMUP,
        metavar="QPS:SECONDS",
        help="an unreported warm-up stage before the ladder, or none (default: 30:50, as published)",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="inference-perf",
        help="inference-perf (default): each stage drains before the next, as in the published runs; "
        "continuous: stages start on the clock and backlog carries over (sustained overload)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of prompts, arrivals and tie-breaks (default: 0)")
    parser.add_argument(
        "--output", default=DEFAULT_OUTPUT, help=f"folder for results.csv/md and plots (default: {DEFAULT_OUTPUT})"
    )
    parser.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    parser.add_argument(
        "--jobs", type=int, default=0, help="worker processes (default: one per CPU, at most one per policy)"
    )
    parser.add_argument("--scrape-interval-s", type=_positive, default=0.2, help=argparse.SUPPRESS)


def _fail(message: str) -> int:
    print(f"heteropool simulate: {message}", file=sys.stderr)
    return 2


class _ProgressBar:
    """One stderr line: a bar over all (policy, stage) cells, redrawn in place on a terminal."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()

    def __call__(self, policy: str, stage: int) -> None:
        self.done += 1
        filled = 30 * self.done // self.total
        line = (
            f"simulating [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} stages "
            f"({policy} stage {stage + 1} done, {time.perf_counter() - self.t0:.0f} s)"
        )
        if self.tty:
            end = "\n" if self.done == self.total else ""
            print(f"\r{line}", end=end, file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


def _comparison(results: Mapping[str, Sequence[StageSummary]]) -> str:
    """The top of the ladder side by side, with ratios against round-robin and llm-d."""
    top = {p: s[-1] for p, s in results.items() if s}
    lines = [
        f"At {next(iter(top.values())).qps:g} QPS:",
        "| policy | output tok/s | TTFT mean s | TTFT p99 s | failed | vs round-robin tok/s | vs llm-d tok/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p, s in top.items():
        ratios = []
        for ref in ("round-robin", "llm-d"):
            r = top.get(ref)
            ratios.append(
                f"{s.output_tokens_per_s / r.output_tokens_per_s:.2f}x" if r and r.output_tokens_per_s else "-"
            )
        lines.append(
            f"| {p} | {s.output_tokens_per_s:,.0f} | {s.ttft_mean_s:.2f} | {s.ttft_p99_s:.2f} | {s.failures} "
            f"| {ratios[0]} | {ratios[1]} |"
        )
    return "\n".join(lines) + "\n"


def _report(
    plan: PoolPlan,
    args: argparse.Namespace,
    results: Mapping[str, Sequence[StageSummary]],
    wall_s: float,
    requests: int,
) -> str:
    from heteropool.fleet.report import markdown_table, priority_table

    warm = f"warm-up {args.warmup[0]:g} QPS x {args.warmup[1]:g} s (not reported), " if args.warmup else ""
    ignored = " (priority ignored)" if args.ignore_priority else ""
    head = (
        f"# {plan.name}: {plan.describe()}\n\n{args.workload} workload{ignored}, {requests} requests per policy, "
        f"{warm}{args.stage_seconds:g} s stages, {args.protocol} protocol, seed {args.seed}; {wall_s:.1f} s wall\n"
    )
    body = "".join(
        f"\n## {p}\n\n{markdown_table(s)}" + (f"\nBy priority:\n\n{t}" if (t := priority_table(s)) else "")
        for p, s in results.items()
    )
    return f"{head}{body}\n{_comparison(results)}"


def run(args: argparse.Namespace) -> int:
    from heteropool.fleet.experiment import build_items, plan_pool, results_csv, run_policies
    from heteropool.manifests import ManifestError, load_pools
    from heteropool.semantics import SpecError

    if args.pool is None:
        text, source = _EMBEDDED_POOL, "<embedded 3-vendor pool>"
    else:
        try:
            text, source = Path(args.pool).read_text(), args.pool
        except OSError as exc:
            return _fail(f"cannot read pool manifest {args.pool!r}: {exc.strerror or exc}")
    try:
        pools = load_pools(text, source=source)
    except (ManifestError, SpecError) as exc:
        return _fail(f"invalid pool manifest: {exc}")
    if args.name is not None:
        pools = [p for p in pools if p.name == args.name]
        if not pools:
            return _fail(f"{source}: no pool named {args.name!r}")
    elif len(pools) > 1:
        return _fail(f"{source} holds {len(pools)} pools ({', '.join(p.name for p in pools)}); choose one with --name")
    try:
        plan = plan_pool(pools[0])
    except ValueError as exc:
        return _fail(f"{source}: {exc}")
    if args.jobs < 0:
        return _fail(f"--jobs: must be >= 0, got {args.jobs}")
    jobs = args.jobs or min(len(args.policies), os.cpu_count() or 1)

    from heteropool.fleet.workloads import LoadStage

    warmup = LoadStage(*args.warmup) if args.warmup else None
    items = build_items(args.workload, args.qps, args.stage_seconds, args.seed, warmup=warmup)
    requests = sum(len(i) for i in items)
    print(
        f"simulating {plan.name}: {plan.describe()}; {args.workload}, QPS {','.join(f'{q:g}' for q in args.qps)}, "
        f"{len(args.policies)} policies, {jobs} job(s)",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    on_clock = args.stage_seconds if args.protocol == "continuous" else None
    results = run_policies(
        plan,
        args.policies,
        args.qps,
        items,
        seed=args.seed,
        scrape_interval_s=args.scrape_interval_s,
        warmup=warmup,
        on_clock_s=on_clock,
        jobs=jobs,
        progress=_ProgressBar(len(args.policies) * len(args.qps), sys.stderr),
        ignore_priority=args.ignore_priority,
    )
    wall = time.perf_counter() - t0
    report = _report(plan, args, results, wall, requests)
    print(report, end="")

    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        groups = list(dict.fromkeys(plan.groups.values()))
        (out / "results.csv").write_text(results_csv(results, groups))
        (out / "results.md").write_text(report)
        written = ["results.csv", "results.md"]
        if not args.no_plots:
            from heteropool.fleet.plots import PlotsUnavailable, write_plots

            title = f"{plan.name}: {plan.describe()} - {args.workload}"
            try:
                written += [p.name for p in write_plots(results, out, title)]
            except PlotsUnavailable as exc:
                print(f"plots skipped: {exc}; --no-plots silences this", file=sys.stderr)
    except OSError as exc:
        return _fail(f"cannot write results to {str(out)!r}: {exc.strerror or exc}")
    print(f"wrote {', '.join(written)} to {out}/", file=sys.stderr)
    return 0
