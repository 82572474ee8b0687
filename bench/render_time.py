"""Render time of one pool: `expected_objects` on the 3-vendor sample, as every reconcile calls it.

Prints the median and p90 over ROUNDS renders (after WARMUP), and the share spent parsing YAML.
`--loader python` renders with PyYAML's pure-Python SafeLoader (what render.py used before it
switched to libyaml's CSafeLoader), so both can be timed in the same conditions.

    .venv/bin/python bench/render_time.py [--rounds 300] [--loader c|python] [--sample samples/granite-3vendor.yaml]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from pathlib import Path

import yaml

import heteropool.render as render
from heteropool.render import expected_objects
from heteropool.semantics import parse_manifest

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="timed renders (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed renders first (default 20)")
    parser.add_argument("--sample", type=Path, default=REPO / "samples" / "granite-3vendor.yaml", help="pool manifest")
    parser.add_argument("--loader", choices=("c", "python"), default="c", help="YAML loader render.py uses (default c)")
    args = parser.parse_args()
    render._Loader = yaml.CSafeLoader if args.loader == "c" else yaml.SafeLoader  # type: ignore[attr-defined,assignment]
    pool = parse_manifest(yaml.safe_load(args.sample.read_text()))
    for _ in range(args.warmup):
        expected_objects(pool)
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        expected_objects(pool)
        times.append(time.perf_counter() - start)
    times.sort()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(50):
        expected_objects(pool)
    profile.disable()
    stats = pstats.Stats(profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    # Cumulative time of the yaml package's entry point (its callees are inside it).
    yaml_s = sum(
        entry[3]
        for func, entry in stats.stats.items()  # type: ignore[attr-defined]
        if func[0].endswith("yaml/__init__.py") and func[2] == "load"
    )
    print(f"sample: {args.sample.name}, objects per render: {len(expected_objects(pool))}")
    print(f"render median {statistics.median(times) * 1e3:.2f} ms, p90 {times[int(0.9 * len(times))] * 1e3:.2f} ms")
    print(f"YAML loading: {100 * yaml_s / total:.0f}% of render time (profiled)")
    print(f"YAML loader: {render._Loader.__name__}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
