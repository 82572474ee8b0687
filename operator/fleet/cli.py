"""`heteropool simulate`: run the fleet simulation from the command line and print the report.

Not registered in `heteropool.cli` yet; it exposes `add_arguments(parser)` and `run(args)` like
every subcommand, so registering it is one line there.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

__all__ = ["add_arguments", "run"]

if TYPE_CHECKING:
    from heteropool.fleet.workloads import Workload


def _pool(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in text.split(","):
        name, _, count = part.partition("=")
        if not name or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"expected PROFILE=COUNT[,PROFILE=COUNT...], got {part!r}")
        out[name.strip()] = int(count)
    return out


def _ladder(text: str) -> tuple[float, float, float]:
    try:
        start, stop, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP:STEP QPS, got {text!r}") from None
    if start <= 0 or step <= 0 or stop < start:
        raise argparse.ArgumentTypeError(f"need 0 < START <= STOP and STEP > 0, got {text!r}")
    return start, stop, step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pool", type=_pool, default="h100-nvl=4,mi325x=8,gaudi3=8",
                        help="replicas as PROFILE=COUNT,... (default: design section 9's 20-pod pool)")
    parser.add_argument("--policy", default="heteropool", help="routing policy (round-robin, least-request, llm-d, heteropool)")
    parser.add_argument("--workload", choices=("shared-prefix", "random", "chat"), default="shared-prefix")
    parser.add_argument("--ladder", type=_ladder, default="5:85:10", help="QPS START:STOP:STEP")
    parser.add_argument("--stage-s", type=float, default=25.0, help="seconds of arrivals per stage")
    parser.add_argument("--scrape-interval-s", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from heteropool.fleet.report import markdown_table, summarize
    from heteropool.fleet.simulation import FleetSimulation, ReplicaSpec
    from heteropool.fleet.workloads import (
        ChatWorkload,
        RandomWorkload,
        SharedPrefixWorkload,
        build_stage_items,
        qps_ladder,
    )
    from heteropool.gateway.errors import ConfigError
    from heteropool.gateway.policies import build_router
    from heteropool.sim.profiles import ProfileError, build_profile

    pool = args.pool if isinstance(args.pool, dict) else _pool(args.pool)
    ladder = args.ladder if isinstance(args.ladder, tuple) else _ladder(args.ladder)
    try:
        replicas = [ReplicaSpec(f"{name}-{i}", build_profile(name)) for name, n in pool.items() for i in range(n)]
        router = build_router(args.policy, seed=args.seed)
    except (ProfileError, ConfigError) as exc:
        print(f"heteropool simulate: {exc}", file=sys.stderr)
        return 2
    workloads: dict[str, Callable[[], Workload]] = {
        "shared-prefix": lambda: SharedPrefixWorkload(seed=args.seed),
        "random": lambda: RandomWorkload(seed=args.seed),
        "chat": lambda: ChatWorkload(seed=args.seed),
    }
    stages = qps_ladder(*ladder, duration_s=args.stage_s)
    items = build_stage_items(workloads[args.workload](), stages, args.seed)
    t0 = time.perf_counter()
    sim = FleetSimulation(replicas, router, scrape_interval_s=args.scrape_interval_s)
    records = sim.run([(s.qps, its) for s, its in zip(stages, items, strict=True)])
    wall = time.perf_counter() - t0
    print(f"{args.policy} on {', '.join(f'{n}x {p}' for p, n in pool.items())}, {args.workload} workload, "
          f"seed {args.seed}: {sum(len(i) for i in items)} requests in {wall:.1f} s\n")
    print(markdown_table([summarize(r, sim.vendors) for r in records]), end="")
    return 0
