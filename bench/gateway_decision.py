"""Routing decision latency of the gateway's policies (pure, in-process; no network).

For 4, 20 and 100 endpoints (mixed H100 / MI325X / Gaudi 3 capacities and block sizes), the
index is warmed with 150 shared-prefix groups, then `pick` is timed on 30,000-character prompts
(24,000 shared + 6,000 unique characters); wall time and the thread's CPU time (which leaves
out time the VM spent running neighbours). Also times prompt hashing at several block sizes and
a plain Python-loop chain for comparison.

    .venv/bin/python bench/gateway_decision.py [--requests 3000] [--repeat 3] [--priority N] [--epp]

`--priority N` routes every request at priority N (0, the default, is the common path; > 0 runs
the policy's latency tier, < 0 its fill tier). `--epp` also times the Endpoint Picker's whole
synchronous `pick` (body parse, priority lookup, router, load accounting) and `finished`: the
path every request takes when it does not have to wait for an endpoint.

The machine is shared (2 vCPUs, neighbours' load shows up as multi-ms outliers): with
--repeat N each cell is run N times and the run with the lowest p99 is printed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import random
import statistics
import time

from heteropool.routing import EndpointView, RouteRequest
from heteropool.scheduling.policies import build_router
from heteropool.scheduling.prefix import hash_prompt_blocks

VENDORS = [("nvidia", 3600.0, 16), ("amd", 2100.0, 16), ("amd", 2100.0, 16), ("gaudi", 630.0, 128)]


def endpoints(n: int, rng: random.Random) -> list[EndpointView]:
    out = []
    for i in range(n):
        vendor, cap, bs = VENDORS[i % len(VENDORS)]
        out.append(
            EndpointView(
                id=f"http://10.0.{i // 250}.{i % 250}:8000",
                group=vendor,
                block_size=bs,
                capacity_tokens_per_s=cap,
                num_waiting=rng.randrange(0, 5),
                kv_cache_usage=rng.random(),
            )
        )
    return out


def prompt(group: int, n: int, rng: random.Random) -> str:
    words = "the of and to in is that for on with as by at from this be are or an it".split()
    g = random.Random(group)
    shared = " ".join(g.choice(words) for _ in range(6000))[:24000]
    unique = " ".join(rng.choice(words) for _ in range(1500))[:6000]
    return (shared + unique).ljust(30000, ".")[:30000]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_policy(
    policy: str, n: int, requests: int, priority: int = 0
) -> tuple[float, float, float, float, float, float]:
    """Route warm-up + measured requests with a moving in-flight window (like the gateway's counters)."""
    rng = random.Random(n)
    name, _, block_chars = policy.partition("@")  # "heteropool@128": block-prefix-producer blockChars
    params = {"block-prefix-producer": {"blockChars": int(block_chars)}} if block_chars else None
    router = build_router(name, seed=1, parameters=params)
    views = {e.id: e for e in endpoints(n, rng)}
    window: collections.deque[str] = collections.deque()
    prompts = [prompt(g % 150, i, rng) for i, g in enumerate(range(600))]

    def route(i: int, p: str, timings: list[list[float]] | None) -> None:
        req = RouteRequest(f"r{i}", p, len(p) // 4, 100, **({"priority": priority} if priority else {}))
        eps = list(views.values())
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        chosen = router.pick(req, eps)
        t1 = time.perf_counter_ns()
        c1 = time.thread_time_ns()
        router.on_routed(req, chosen)
        t2 = time.perf_counter_ns()
        if timings is not None:
            timings[0].append((t1 - t0) / 1000)
            timings[1].append((t2 - t0) / 1000)
            timings[2].append((c1 - c0) / 1000)
        v = views[chosen]
        views[chosen] = dataclasses.replace(v, in_flight=v.in_flight + 1)
        window.append(chosen)
        if len(window) > 4 * n:  # requests finish in arrival order
            done = window.popleft()
            d = views[done]
            views[done] = dataclasses.replace(d, in_flight=d.in_flight - 1)

    for i, p in enumerate(prompts):  # warm the index with 150 groups
        route(i, p, None)
    timings: list[list[float]] = [[], [], []]
    gc.collect()
    for i in range(requests):
        route(10_000 + i, prompts[rng.randrange(len(prompts))], timings)
    pick_us, full_us, cpu_us = timings
    return (
        pct(pick_us, 0.5),
        pct(pick_us, 0.99),
        pct(full_us, 0.5),
        pct(full_us, 0.99),
        pct(cpu_us, 0.5),
        pct(cpu_us, 0.99),
    )


def python_loop_chain(p: str, block: int) -> list[int]:
    out: list[int] = []
    h = 0
    for i in range(0, len(p) - len(p) % block, block):
        h = hash((h, p[i : i + block]))
        out.append(h)
    return out


def bench_hash(requests: int) -> list[tuple[str, float, float]]:
    rng = random.Random(0)
    p = prompt(1, 0, rng)
    rows = []
    for name, fn in [
        ("C-level chain, 64 chars", lambda: hash_prompt_blocks(p, 64, 1024)),
        ("C-level chain, 128 chars", lambda: hash_prompt_blocks(p, 128, 512)),
        ("C-level chain, 256 chars (default)", lambda: hash_prompt_blocks(p, 256, 256)),
        ("Python loop hash((prev, slice)), 64 chars", lambda: python_loop_chain(p, 64)),
        ("Python loop hash((prev, slice)), 128 chars", lambda: python_loop_chain(p, 128)),
    ]:
        ts = []
        for _ in range(requests):
            t0 = time.perf_counter_ns()
            fn()
            ts.append((time.perf_counter_ns() - t0) / 1000)
        rows.append((name, statistics.median(ts), pct(ts, 0.99)))
    return rows


def bench_epp(n: int, requests: int) -> tuple[float, float, float, float]:
    """EndpointPicker.pick + finished on JSON bodies, a moving window of open requests: p50/p99 of each (us)."""
    import json

    from heteropool.epp.picker import EndpointPicker
    from heteropool.routing import EndpointEntry
    from heteropool.scheduling.endpoints import EndpointPool

    rng = random.Random(n)
    picker = EndpointPicker(EndpointPool(clock=time.monotonic), policy="heteropool", seed=1)
    picker.apply_endpoints(
        [
            EndpointEntry(url=e.id, group=e.group, block_size=e.block_size, capacity=e.capacity_tokens_per_s)
            for e in endpoints(n, rng)
        ]
    )
    bodies = [
        json.dumps({"model": "m", "prompt": prompt(g % 150, i, rng), "max_tokens": 100}).encode()
        for i, g in enumerate(range(600))
    ]
    window: collections.deque = collections.deque()  # type: ignore[type-arg]
    picks: list[float] = []
    ends: list[float] = []
    for i in range(600 + requests):
        body = bodies[i] if i < 600 else bodies[rng.randrange(len(bodies))]
        t0 = time.perf_counter_ns()
        d = picker.pick("/v1/completions", body)
        t1 = time.perf_counter_ns()
        window.append(d)
        if len(window) > 4 * n:
            done = window.popleft()
            t2 = time.perf_counter_ns()
            picker.finished(done)
            t3 = time.perf_counter_ns()
            if i >= 600:
                ends.append((t3 - t2) / 1000)
        if i >= 600:
            picks.append((t1 - t0) / 1000)
    return pct(picks, 0.5), pct(picks, 0.99), pct(ends, 0.5), pct(ends, 0.99)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--policies", default="heteropool,llm-d,least-request,round-robin")
    ap.add_argument("--sizes", default="4,20,100")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the run with the lowest p99 is shown")
    ap.add_argument("--skip-hash", action="store_true")
    ap.add_argument("--priority", type=int, default=0, help="priority of every request (default 0)")
    ap.add_argument("--epp", action="store_true", help="also time the Endpoint Picker's pick and finished")
    args = ap.parse_args()
    print(
        "| policy | endpoints | pick p50 us | pick p99 us | pick CPU p50 us | pick CPU p99 us "
        "| pick+on_routed p50 us | pick+on_routed p99 us |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for policy in args.policies.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            runs = [bench_policy(policy, n, args.requests, args.priority) for _ in range(args.repeat)]
            r = min(runs, key=lambda x: x[1])
            print(
                f"| {policy} | {n} | {r[0]:.0f} | {r[1]:.0f} | {r[4]:.0f} | {r[5]:.0f} | {r[2]:.0f} | {r[3]:.0f} |",
                flush=True,
            )
    if args.epp:
        print()
        print(
            "| Endpoint Picker (heteropool) | endpoints | pick p50 us | pick p99 us "
            "| finished p50 us | finished p99 us |"
        )
        print("|---|---|---|---|---|---|")
        for n in (int(x) for x in args.sizes.split(",")):
            epp = min((bench_epp(n, args.requests) for _ in range(args.repeat)), key=lambda x: x[1])
            print(f"| heteropool | {n} | {epp[0]:.0f} | {epp[1]:.0f} | {epp[2]:.0f} | {epp[3]:.0f} |", flush=True)
    if args.skip_hash:
        return
    print()
    print("| hashing a 30,000-char prompt | p50 us | p99 us |")
    print("|---|---|---|")
    for name, p50, p99 in bench_hash(args.requests):
        print(f"| {name} | {p50:.0f} | {p99:.0f} |")


if __name__ == "__main__":
    main()
