"""Weight controller on real processes: convergence after a 2x slowdown, and throughput with the
controller on vs weights frozen at equal values.

Three `heteropool sim` replicas (h100-nvl, mi325x, gaudi3) at --time-scale, `heteropool weights`
(local mode) rewriting the endpoint file a `heteropool epp` behind Envoy follows, and a closed-loop client
in this process (distinct prompts, so prefix affinity plays no part).

    .venv/bin/python bench/weights_convergence.py [--time-scale 1] [--interval 1] [--concurrency 48]
        [--seconds 12] [--repeats 3] [--out bench/results/weights_convergence.md]

Phase 1 (convergence): steady load; the mi325x replica is slowed 2x through /admin/config; the
convergence time is from the POST until its weight stays within 10% of the total move from its
final value (the mean of the last 5 rounds). Phase 2 (throughput): output tokens/s through a
data plane following the controller vs a second one whose file has equal weights and no
capacities, each after the same warm-up, nominal and with mi325x slowed 2x. Everything shares the
machine's cores; the simulators' own clocks keep their latencies model-true, but throughput in
wall time is bounded by the CPU, so compare rows of one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from heteropool.epp.local import start_local_data_plane
from heteropool.supervise import heteropool_executable, start_process, stop_processes
from heteropool_testing.processes import start_admin_sims
from heteropool_testing.waiting import JsonLines

PROFILES = {"h100-nvl": 16, "mi325x": 16, "gaudi3": 128}
SLOWED = "mi325x"


async def stamped(rounds: JsonLines) -> tuple[float, dict[str, Any]]:
    """The next line of `heteropool weights`, with the wall time it was read."""
    line = await rounds.next(timeout_s=30.0)
    return time.monotonic(), line


class Load:
    """Closed-loop clients against one data plane; counts completion tokens between start and stop."""

    def __init__(self, url: str, concurrency: int, max_tokens: int) -> None:
        self.url, self.concurrency, self.max_tokens = url, concurrency, max_tokens
        self.tokens = 0
        self.requests = 0
        self.latency: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count()

    async def _worker(self, http: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            n = next(self._ids)
            body = {
                "model": "ibm-granite/granite-4.1-8b",
                "prompt": f"Request {n}: tell me about routers. " * 4,
                "max_tokens": self.max_tokens,
            }
            t0 = time.monotonic()
            r = await http.post(self.url + "/v1/completions", json=body)
            r.raise_for_status()
            self.tokens += r.json()["usage"]["completion_tokens"]
            self.requests += 1
            self.latency.append(time.monotonic() - t0)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            await asyncio.gather(*(self._worker(http) for _ in range(self.concurrency)))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    def reset(self) -> None:
        self.tokens, self.requests, self.latency = 0, 0, []


async def _set_slowdown(url: str, value: float) -> None:
    async with httpx.AsyncClient() as http:
        (await http.post(url + "/admin/config", json={"slowdown": value})).raise_for_status()


async def _convergence(rounds: JsonLines, sims: dict[str, str], interval: float, settle_rounds: int) -> dict[str, Any]:
    for _ in range(settle_rounds):
        await stamped(rounds)
    before = [(await stamped(rounds))[1] for _ in range(5)]
    w0 = statistics.mean(r["groups"][SLOWED]["weight"] for r in before)
    await _set_slowdown(sims[SLOWED], 2.0)
    t0 = time.monotonic()
    series = [(t - t0, r["groups"][SLOWED]["weight"]) for t, r in [await stamped(rounds) for _ in range(20)]]
    final = statistics.mean(w for _, w in series[-5:])
    band = 0.1 * abs(w0 - final)
    settle_t = next(t for i, (t, _) in enumerate(series) if all(abs(w - final) <= band for _, w in series[i:]))
    half_t = next(t for t, w in series if w0 - w >= 0.5 * (w0 - final))
    moved_2 = (w0 - series[1][1]) / (w0 - final) if w0 != final else 1.0
    await _set_slowdown(sims[SLOWED], 1.0)
    return {
        "w0": w0,
        "final": final,
        "settle_s": settle_t,
        "half_s": half_t,
        "interval": interval,
        "series": series,
        "moved_2": moved_2,
        "weights_before": before[-1]["groups"],
    }


async def _throughput(
    load_url: str, concurrency: int, max_tokens: int, warmup_s: float, seconds: float
) -> dict[str, float]:
    load = Load(load_url, concurrency, max_tokens)
    load.start()
    await asyncio.sleep(warmup_s)  # a measurement window, not synchronisation
    load.reset()
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    tokens, requests, lat = load.tokens, load.requests, list(load.latency)
    elapsed = time.monotonic() - t0
    await load.stop()
    return {
        "tokens_per_s": tokens / elapsed,
        "requests": requests,
        "mean_latency_s": statistics.mean(lat) if lat else 0.0,
    }


async def main(args: argparse.Namespace) -> str:
    exe = heteropool_executable()
    procs: list[asyncio.subprocess.Process] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-weights-"))
    try:
        async with httpx.AsyncClient() as http:
            sims = await start_admin_sims(PROFILES, args.time_scale, tmp, http, procs)
            src, out, frozen = tmp / "in.yaml", tmp / "out.yaml", tmp / "frozen.yaml"
            src.write_text(yaml.safe_dump([{"url": u, "group": p, "blockSize": PROFILES[p]} for p, u in sims.items()]))
            frozen.write_text(
                yaml.safe_dump(
                    [
                        {"url": u, "group": p, "blockSize": PROFILES[p], "capacityMultiplier": 1.0}
                        for p, u in sims.items()
                    ]
                )
            )
            procs.append(
                await start_process(
                    [exe, "weights", "--endpoints", str(src), "--write", str(out), "--interval", str(args.interval)],
                    log_path=tmp / "weights.log",
                )
            )
            rounds = JsonLines(tmp / "weights.log")
            await stamped(rounds)
            gateways: dict[str, str] = {}
            for name, path in (("controller", out), ("frozen-equal", frozen)):
                workdir = tmp / name
                workdir.mkdir()
                plane = await start_local_data_plane(http, path, list(sims.values()), workdir, started=procs)
                gateways[name] = plane.url

            load = Load(gateways["controller"], args.concurrency, args.max_tokens)
            load.start()
            conv = await _convergence(rounds, sims, args.interval, settle_rounds=15)
            await load.stop()

            results: dict[tuple[str, str], list[dict[str, float]]] = {}
            for scenario, slowdown in (("nominal", 1.0), (f"{SLOWED} slowed 2x", 2.0)):
                await _set_slowdown(sims[SLOWED], slowdown)
                for rep in range(args.repeats):
                    # alternate the order, so drift in what else runs on the machine hits both alike
                    order = ("controller", "frozen-equal") if rep % 2 == 0 else ("frozen-equal", "controller")
                    for config in order:
                        results.setdefault((scenario, config), []).append(
                            await _throughput(
                                gateways[config], args.concurrency, args.max_tokens, args.warmup, args.seconds
                            )
                        )
                        rounds.skip()
            await _set_slowdown(sims[SLOWED], 1.0)
    finally:
        await stop_processes(procs)
    return _report(args, conv, results)


def _report(args: argparse.Namespace, conv: dict[str, Any], runs: dict[tuple[str, str], list[dict[str, float]]]) -> str:
    results = {
        key: {
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in rs),
            "requests": statistics.median(r["requests"] for r in rs),
            "mean_latency_s": statistics.median(r["mean_latency_s"] for r in rs),
            "all": [r["tokens_per_s"] for r in rs],
        }
        for key, rs in runs.items()
    }
    cmd = "  .venv/bin/python bench/weights_convergence.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"
    )
    lines = [
        "# Weight controller: convergence after a 2x slowdown, throughput on vs frozen",
        "",
        f"Machine: {platform.machine()}, {platform.python_version()}, `nproc` cores shared by 3 simulators, "
        "2 data planes (Envoy + EPP),",
        "the weight loop and the load client. Command:",
        "",
        cmd,
        "",
        f"Setup: h100-nvl, mi325x, gaudi3 simulators at --time-scale {args.time_scale}; weight loop interval "
        f"{args.interval} s (defaults: smoothing 0.6, max step 0.25, floor 0.02); closed-loop load, "
        f"{args.concurrency} concurrent requests of {args.max_tokens} output tokens, distinct prompts.",
        "",
        "## Convergence after slowing mi325x 2x",
        "",
        "| weight before | weight after (mean of last 5 rounds) | moved by the 2nd round | half of the move "
        "| within 10% of the move, for good |",
        "|---:|---:|---:|---:|---:|",
        f"| {conv['w0']:.3f} | {conv['final']:.3f} | {100 * conv['moved_2']:.0f}% "
        f"| {conv['half_s']:.1f} s ({conv['half_s'] / conv['interval']:.1f} intervals) "
        f"| {conv['settle_s']:.1f} s ({conv['settle_s'] / conv['interval']:.1f} intervals) |",
        "",
        "Weights before the slowdown: "
        + ", ".join(
            f"{g} {v['weight']:.3f} (capacity {v['capacity_tokens_per_s']:.0f} tok/s)"
            for g, v in conv["weights_before"].items()
        ),
        "",
        "mi325x weight by round (seconds after the POST): " + ", ".join(f"{t:.1f}s {w:.3f}" for t, w in conv["series"]),
        "",
        "## Throughput: controller on vs weights frozen at equal values",
        "",
        f"Each run: {args.warmup} s warm-up, then {args.seconds} s measured (output tokens/s at the client, wall "
        f"time); {args.repeats} runs per row, alternating which configuration goes first; medians, then every run. "
        f"Load average (1 min) of the machine when the report was written: {os.getloadavg()[0]:.2f}.",
        "",
        "| scenario | weights | output tok/s (median) | requests (median) | mean latency (s, median) | runs (tok/s) |",
        "|---|---|---:|---:|---:|---|",
    ]
    for (scenario, config), r in results.items():
        runs_text = ", ".join(f"{x:.0f}" for x in r["all"])  # type: ignore[attr-defined]
        lines.append(
            f"| {scenario} | {config} | {r['tokens_per_s']:.0f} | {r['requests']:.0f} "
            f"| {r['mean_latency_s']:.2f} | {runs_text} |"
        )
    for scenario in dict.fromkeys(s for s, _ in results):
        on, off = results[(scenario, "controller")], results[(scenario, "frozen-equal")]
        lines.append("")
        lines.append(
            f"{scenario}: controller / frozen = {on['tokens_per_s'] / off['tokens_per_s']:.2f}x output tokens/s"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the report here")
    args = parser.parse_args()
    report = asyncio.run(main(args))
    print(report)
    if args.out:
        Path(args.out).write_text(report)
    sys.exit(0)
