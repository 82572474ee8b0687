"""Added latency and maximum request rate: heteropool gateway vs sglang-router vs vllm-router.

All on 127.0.0.1, same fake workers (bench/gateway_backend.py), same closed-loop client
(aiohttp + uvloop, in this process). Phase 1: streaming requests at 1, 32 and 100 concurrent
streams against workers with a fixed service time (TTFT 100 ms, 4 chunks 25 ms apart); each
router's TTFT and end-to-end p50/p99 minus those of calling the workers directly (client-side
round-robin); requests started in the first second of each cell are not counted (connection
and cache warm-up). Phase 2: maximum request rate, non-streaming, zero service time, 1 worker.

    .venv/bin/python bench/gateway_latency.py [--seconds 6] [--skip-rust]

Everything shares the machine's cores (client, workers, router), so absolute rates are
CPU-bound by the client; compare rows of one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

HERE = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    name: str
    urls: list[str]  # client round-robins over these (one for a router)
    procs: list[subprocess.Popen[bytes]]


def spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


async def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    body = {"model": "bench-model", "prompt": "ready?", "max_tokens": 1}
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.post(url + "/v1/completions", json=body, timeout=aiohttp.ClientTimeout(total=5)) as r:
                    if r.status == 200:
                        await r.read()
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready")
            await asyncio.sleep(0.1)


def start_workers(n: int, ttft_ms: float, itl_ms: float, chunks: int) -> list[tuple[str, subprocess.Popen[bytes]]]:
    out = []
    for i in range(n):
        port = free_port()
        p = spawn([PY, str(HERE / "gateway_backend.py"), "--port", str(port), "--name", f"w{i}",
                   "--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms), "--chunks", str(chunks)])
        out.append((f"http://127.0.0.1:{port}", p))
    return out


def start_router(kind: str, workers: list[str], tmp: Path) -> Target:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    if kind == "heteropool":
        path = tmp / "endpoints.yaml"
        path.write_text(yaml.safe_dump([{"url": w, "vendor": "nvidia"} for w in workers]))
        p = spawn([str(BIN / "heteropool"), "gateway", "--port", str(port), "--endpoints", str(path),
                   "--policy", "heteropool", "--log-level", "warning"])
    elif kind == "sglang-router":
        p = spawn([str(BIN / "sglang-router"), "launch", "--host", "127.0.0.1", "--port", str(port),
                   "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port()), "--log-level", "warn",
                   "--policy", "cache_aware", "--worker-urls", *workers])
    elif kind == "vllm-router":
        p = spawn([str(BIN / "vllm-router"), "--host", "127.0.0.1", "--port", str(port), "--prometheus-host",
                   "127.0.0.1", "--prometheus-port", str(free_port()), "--log-level", "warning",
                   "--policy", "cache_aware", "--worker-urls", *workers])
    else:
        raise ValueError(kind)
    return Target(kind, [url], [p])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    ttft: list[float]
    e2e: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


async def load(
    urls: list[str], concurrency: int, seconds: float, stream: bool, prompt_chars: int, chunks: int = 4,
    warmup_s: float = 1.0,
) -> Result:
    connector = aiohttp.TCPConnector(limit=0)
    ttft: list[float] = []
    e2e: list[float] = []
    errors = 0
    done = 0
    # the first second only warms connections and caches (a burst of `concurrency` first requests)
    measure_from = time.perf_counter() + warmup_s
    stop_at = time.monotonic() + warmup_s + seconds
    shared = ("You are a careful assistant for group {g}. " * 200)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as s:

        async def worker(w: int) -> None:
            nonlocal errors, done
            i = 0
            while time.monotonic() < stop_at:
                url = urls[(w + i) % len(urls)]
                prompt = shared.format(g=(w + i) % 16)[:prompt_chars] + f" question {w}-{i}"
                body = {"model": "bench-model", "prompt": prompt, "max_tokens": chunks, "stream": stream}
                if stream:
                    body["stream_options"] = {"include_usage": True}
                t0 = time.perf_counter()
                try:
                    async with s.post(url + "/v1/completions", json=body) as r:
                        first = None
                        async for _ in r.content.iter_any():
                            if first is None:
                                first = time.perf_counter()
                        if r.status != 200:
                            errors += 1
                        elif t0 >= measure_from:
                            ttft.append((first or time.perf_counter()) - t0)
                            e2e.append(time.perf_counter() - t0)
                            done += 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                i += 1

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        return Result(done, errors, seconds, ttft, e2e)


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"gwbench-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    kinds = ["heteropool"]
    if not args.skip_rust:
        kinds += [k for k in ("sglang-router", "vllm-router") if shutil.which(k, path=str(BIN))]
    print(f"# gateway benchmark ({os.cpu_count()} CPUs, {args.seconds:.0f} s per cell)\n")

    # phase 1: added latency with a fixed service time
    workers = start_workers(3, args.ttft_ms, args.itl_ms, args.chunks)
    procs = [p for _, p in workers]
    try:
        for w, _ in workers:
            await wait_ready(w)
        wurls = [w for w, _ in workers]
        print(f"## Added latency, streaming, workers: TTFT {args.ttft_ms:.0f} ms + {args.chunks - 1} x {args.itl_ms:.0f} ms, "
              f"prompt {args.prompt_chars} chars, 16 shared-prefix groups\n")
        print("| target | streams | req/s | errors | TTFT p50 ms | TTFT p99 ms | e2e p50 ms | e2e p99 ms "
              "| added TTFT p50 ms | added TTFT p99 ms |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for c in (1, 32, 100):
            direct = await load(wurls, c, args.seconds, True, args.prompt_chars, args.chunks)
            d50, d99 = pct(direct.ttft, 0.5) * 1e3, pct(direct.ttft, 0.99) * 1e3
            print(f"| direct | {c} | {direct.rate:.0f} | {direct.errors} | {d50:.2f} | {d99:.2f} | "
                  f"{pct(direct.e2e, .5) * 1e3:.2f} | {pct(direct.e2e, .99) * 1e3:.2f} | - | - |", flush=True)
            for kind in kinds:
                t = start_router(kind, wurls, tmp)
                try:
                    await wait_ready(t.urls[0])
                    r = await load(t.urls, c, args.seconds, True, args.prompt_chars, args.chunks)
                finally:
                    stop(t.procs)
                t50, t99 = pct(r.ttft, 0.5) * 1e3, pct(r.ttft, 0.99) * 1e3
                print(f"| {kind} | {c} | {r.rate:.0f} | {r.errors} | {t50:.2f} | {t99:.2f} | "
                      f"{pct(r.e2e, .5) * 1e3:.2f} | {pct(r.e2e, .99) * 1e3:.2f} | {t50 - d50:+.2f} | {t99 - d99:+.2f} |",
                      flush=True)
    finally:
        stop(procs)

    if args.skip_rate:
        return
    # phase 2: maximum request rate, zero service time
    workers = start_workers(1, 0, 0, 4)
    procs = [p for _, p in workers]
    try:
        await wait_ready(workers[0][0])
        wurls = [workers[0][0]]
        print(f"\n## Maximum request rate, non-streaming, zero service time, {args.rate_concurrency} "
              "concurrent clients, 1 worker\n")
        print("| target | req/s | errors | e2e p50 ms | e2e p99 ms | vs direct |")
        print("|---|---|---|---|---|---|")
        direct = await load(wurls, args.rate_concurrency, args.seconds, False, args.prompt_chars)
        print(f"| direct | {direct.rate:.0f} | {direct.errors} | {pct(direct.e2e, .5) * 1e3:.2f} | "
              f"{pct(direct.e2e, .99) * 1e3:.2f} | 1.00 |", flush=True)
        for kind in kinds:
            t = start_router(kind, wurls, tmp)
            try:
                await wait_ready(t.urls[0])
                r = await load(t.urls, args.rate_concurrency, args.seconds, False, args.prompt_chars)
            finally:
                stop(t.procs)
            print(f"| {kind} | {r.rate:.0f} | {r.errors} | {pct(r.e2e, .5) * 1e3:.2f} | {pct(r.e2e, .99) * 1e3:.2f} "
                  f"| {r.rate / direct.rate:.2f} |", flush=True)
    finally:
        stop(procs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--ttft-ms", type=float, default=100.0)
    ap.add_argument("--itl-ms", type=float, default=25.0)
    ap.add_argument("--prompt-chars", type=int, default=2000)
    ap.add_argument("--chunks", type=int, default=4, help="SSE chunks per streamed response")
    ap.add_argument("--skip-rate", action="store_true", help="only the added-latency phase")
    ap.add_argument("--rate-concurrency", type=int, default=64)
    ap.add_argument("--skip-rust", action="store_true")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.run(main_async(args))
    except ImportError:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
