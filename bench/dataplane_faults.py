"""Faults through Envoy + `heteropool epp` at scale, with figures (bench/results/dataplane_faults.md).

Cases (all on 127.0.0.1, `heteropool sim` replicas sped up 20x):
1. a replica SIGKILLed under streaming load: failures among requests not yet streaming (target 0);
2. a replica that accepts no connections: answers other than 200 (target: no 504s);
3. both replicas failing 50% of requests: share answered 200 (target >= 95%);
4. a replica that hangs: worst client latency with a 2 s per-try idle timeout, and answers;
5. 2,000 idle or half-sent client connections: share closed by Envoy's timeouts (10 s) while other
   requests keep being answered;
6. the picker killed: what clients get under FailOpen and FailClose.

    .venv/bin/python bench/dataplane_faults.py --out bench/results/dataplane_faults.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

from heteropool.epp.bootstrap import DataPlaneConfig, envoy_bootstrap
from heteropool.supervise import free_port
from heteropool_testing.processes import envoy_command, epp_command, spawn, stop_sessions, wait_http

BIN = Path(sys.executable).parent
MODEL = "ibm-granite/granite-4.1-8b"


class Pool:
    """Replicas (sims or bare addresses), the picker and Envoy, started in a temp directory."""

    def __init__(self, tmp: Path, sims: int = 2, extra_urls: list[str] | None = None, **envoy: Any) -> None:
        self.tmp, self.procs = tmp, []
        self.sims: list[tuple[subprocess.Popen[bytes], str]] = []
        for i in range(sims):
            port = free_port()
            p = spawn(
                [
                    str(BIN / "heteropool"),
                    "sim",
                    "--profile",
                    ("h100-nvl", "mi325x", "gaudi3")[i % 3],
                    "--port",
                    str(port),
                    "--time-scale",
                    "20",
                    "--enable-admin-api",
                    "--seed",
                    str(i),
                ],
                tmp / f"sim{i}.log",
            )
            self.sims.append((p, f"http://127.0.0.1:{port}"))
            self.procs.append(p)
        for _, url in self.sims:
            wait_http(url + "/health", 30)
        urls = [u for _, u in self.sims] + (extra_urls or [])
        eps = tmp / "endpoints.yaml"
        eps.write_text(yaml.safe_dump([{"url": u, "group": f"g{i}", "capacity": 1000.0} for i, u in enumerate(urls)]))
        grpc_port, metrics, port, admin = free_port(), free_port(), free_port(), free_port()
        self.epp = spawn(
            epp_command(grpc_port, metrics, eps, "--policy", "round-robin", "--log-level", "warning"), tmp / "epp.log"
        )
        self.procs.append(self.epp)
        wait_http(f"http://127.0.0.1:{metrics}/readyz", 30)
        config = DataPlaneConfig(
            endpoints=[(u.split("//")[1].split(":")[0], int(u.rsplit(":", 1)[1])) for u in urls],
            epp_host="127.0.0.1",
            epp_port=grpc_port,
            listen_host="127.0.0.1",
            listen_port=port,
            admin_port=admin,
            **envoy,
        )
        (tmp / "envoy.yaml").write_text(yaml.safe_dump(envoy_bootstrap(config)))
        self.procs.append(spawn(envoy_command(tmp / "envoy.yaml", port, "error"), tmp / "envoy.log"))
        wait_http(f"http://127.0.0.1:{admin}/ready", 30)
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        stop_sessions(*self.procs)


async def _complete(client: httpx.AsyncClient, url: str, i: int) -> tuple[int, float]:
    t0 = time.monotonic()
    try:
        r = await client.post(url + "/v1/completions", json={"model": MODEL, "prompt": f"q{i}", "max_tokens": 2})
        return r.status_code, time.monotonic() - t0
    except httpx.HTTPError:
        return 0, time.monotonic() - t0


async def _sequential(url: str, n: int, concurrency: int = 8) -> tuple[Counter[int], list[float]]:
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int) -> None:
            async with sem:
                code, s = await _complete(client, url, i)
                codes[code] += 1
                latencies.append(s)

        await asyncio.gather(*(one(i) for i in range(n)))
    return codes, sorted(latencies)


async def killed_under_streaming(tmp: Path, streams: int, seconds: float) -> str:
    pool = Pool(tmp, sims=3)
    kill_at = time.monotonic() + seconds / 3
    stats: Counter[str] = Counter()
    try:
        async with httpx.AsyncClient(timeout=60) as client:

            async def worker(w: int) -> None:
                i = 0
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    i += 1
                    started_streaming = False
                    began = time.monotonic()
                    try:
                        body = {"model": MODEL, "prompt": f"w{w} r{i}", "max_tokens": 60, "stream": True}
                        async with client.stream("POST", pool.url + "/v1/completions", json=body) as r:
                            last = b""
                            async for chunk in r.aiter_bytes():
                                started_streaming, last = True, chunk
                            ok = r.status_code == 200 and last.rstrip().endswith(b"[DONE]")
                    except httpx.HTTPError:
                        ok = False
                    killed_before = began >= kill_at
                    key = "ok" if ok else ("failed mid-stream" if started_streaming else "failed before streaming")
                    stats[key] += 1
                    stats["started after the kill"] += killed_before

            async def killer() -> None:
                await asyncio.sleep(max(0.0, kill_at - time.monotonic()))
                os.kill(pool.sims[0][0].pid, signal.SIGKILL)

            await asyncio.gather(killer(), *(worker(w) for w in range(streams)))
    finally:
        pool.close()
    return (
        f"| replica SIGKILLed under {streams} streams | {stats['ok']} ok, "
        f"{stats['failed mid-stream']} failed mid-stream (on the killed replica), "
        f"**{stats['failed before streaming']} failed before streaming** | 0 failures among "
        f"requests not yet streaming |"
    )


def black_hole() -> tuple[socket.socket, list[socket.socket], str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(listener.getsockname())
        fillers.append(s)
    return listener, fillers, f"http://127.0.0.1:{listener.getsockname()[1]}"


async def no_accept(tmp: Path, n: int) -> str:
    listener, fillers, url = black_hole()
    pool = Pool(tmp, sims=2, extra_urls=[url])
    try:
        codes, lat = await _sequential(pool.url, n)
    finally:
        pool.close()
        for s in (*fillers, listener):
            s.close()
    return (
        f"| replica accepting no connections (1 of 3, round-robin picks) | {dict(codes)}; "
        f"p50 {lat[len(lat) // 2]:.2f} s, max {lat[-1]:.2f} s | no 504 |"
    )


async def half_errors(tmp: Path, n: int) -> str:
    pool = Pool(tmp, sims=2)
    try:
        for _, url in pool.sims:
            httpx.post(url + "/admin/config", json={"error_rate": 0.5})
        codes, _ = await _sequential(pool.url, n)
    finally:
        pool.close()
    return f"| both replicas failing 50% | {codes[200] / n:.1%} answered 200 ({dict(codes)}) | >= 95% |"


async def hanging(tmp: Path, n: int) -> str:
    pool = Pool(tmp, sims=2, per_try_idle_timeout_s=2.0)
    try:
        httpx.post(pool.sims[0][1] + "/admin/config", json={"error_rate": 1.0, "error_mode": "hang"})
        codes, lat = await _sequential(pool.url, n, concurrency=4)
    finally:
        pool.close()
    return (
        f"| a replica that hangs (per-try idle timeout 2 s) | {dict(codes)}; max latency {lat[-1]:.2f} s "
        "| bounded, answered |"
    )


async def idle_connections(tmp: Path, n: int) -> str:
    pool = Pool(tmp, sims=2, request_headers_timeout_s=10.0, connection_idle_timeout_s=10.0)
    host, port = pool.url.removeprefix("http://").split(":")
    socks = []
    try:
        for i in range(n):
            s = socket.create_connection((host, int(port)))
            if i % 2:
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        codes, _ = await _sequential(pool.url, 50)
        deadline = time.monotonic() + 15
        closed = 0
        for s in socks:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                while s.recv(4096):
                    pass
                closed += 1
            except ConnectionResetError:
                closed += 1
            except TimeoutError:
                pass
    finally:
        for s in socks:
            s.close()
        pool.close()
    return (
        f"| {n} idle / half-sent client connections (10 s timeouts) | {closed / n:.1%} closed within 15 s; meanwhile "
        f"{codes[200]}/50 other requests answered | closed, others unaffected |"
    )


async def picker_killed(tmp: Path, n: int) -> str:
    rows = []
    for mode in ("FailOpen", "FailClose"):
        sub = tmp / mode
        sub.mkdir()
        pool = Pool(sub, sims=2, fail_open=mode == "FailOpen", message_timeout_s=1.0)
        try:
            os.killpg(pool.epp.pid, signal.SIGKILL)
            codes, _ = await _sequential(pool.url, n)
        finally:
            pool.close()
        rows.append(f"{mode}: {dict(codes)}")
    return (
        f"| the picker killed | {'; '.join(rows)} | FailOpen: Envoy routes itself; FailClose: an error, never a guess |"
    )


async def main_async(args: argparse.Namespace) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="faults-"))
    rows = []
    for name, case in (
        ("kill", lambda d: killed_under_streaming(d, 40, 12.0)),
        ("noaccept", lambda d: no_accept(d, 150)),
        ("errors", lambda d: half_errors(d, 600)),
        ("hang", lambda d: hanging(d, 20)),
        ("idle", lambda d: idle_connections(d, args.connections)),
        ("picker", lambda d: picker_killed(d, 20)),
    ):
        d = tmp / name
        d.mkdir()
        rows.append(await case(d))
        print(rows[-1], file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    return "\n".join(
        [
            "# Faults through Envoy + heteropool epp",
            "",
            f"`.venv/bin/python bench/dataplane_faults.py {' '.join(sys.argv[1:])}` on {platform.machine()}, "
            f"{os.cpu_count()} cores (load average {load:.1f} at the end), Envoy 1.40, one worker, "
            "`heteropool sim` replicas.",
            "",
            "| case | measured | target |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=2000, help="idle/half-sent client connections (case 5)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    report = asyncio.run(main_async(args))
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
