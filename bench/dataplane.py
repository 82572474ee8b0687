"""The data plane side by side: Envoy + `heteropool epp` vs plain Envoy, sglang-router and vllm-router
(and the backend directly).

Everything on 127.0.0.1; load from `wrk` (Debian package `wrk`); the backend is one `heteropool sim`
process in its fixed-latency mode (`--fixed-ttft-ms`, `--fixed-itl-ms`: no engine model) listening on N
ports = N endpoints. Measures, per data plane:
- max req/s with 32 connections, short non-streaming requests with ~2 KB prompts;
- added latency p50/p99 at concurrency 1 (vs the backend directly);
- CPU seconds of the proxy process (and of the EPP) per request;
- CPU of the proxy process per streamed chunk with 200 streams and 20 ms between chunks.
Plus the EPP's own decision time (parse + pick) at 20 endpoints with 30,000-character prompts.

    make bench-routers   # once: sglang-router and vllm-router in their own venv (ROUTERS below)
    .venv/bin/python bench/dataplane.py --seconds 10 --out bench/results/dataplane.md

Without that venv the Rust routers' rows are left out (`--routers DIR` points elsewhere).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

import yaml

from heteropool.epp.bootstrap import DataPlaneConfig, envoy_bootstrap
from heteropool.supervise import free_port
from heteropool_testing.processes import BIN, envoy_command, epp_command, spawn, stop_sessions, wait_http

PROMPT = "You are a helpful assistant. " * 70  # ~2 KB
ROUTERS = Path.home() / ".cache" / "heteropool-bench" / "routers"  # venv with sglang-router, vllm-router
RUST_ROUTERS = ("sglang-router", "vllm-router")


def _start_backend(
    endpoints: int, ttft_ms: int, itl_ms: int, chunks: int, log: Path
) -> tuple[int, subprocess.Popen[bytes]]:
    """The simulator with fixed latencies on `endpoints` consecutive free ports: (first port, process)."""
    base = free_port()
    while any(_busy(p) for p in range(base, base + endpoints)):
        base = free_port()
    args = ["--port", str(base), "--ports", str(endpoints), "--served-model-name", "bench-model"]
    fixed = ["--fixed-ttft-ms", str(ttft_ms), "--fixed-itl-ms", str(itl_ms), "--max-tokens-cap", str(chunks)]
    return base, spawn([str(BIN), "sim", *args, *fixed], log)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, connections: int, seconds: float, body: dict[str, object], tmp: Path) -> dict[str, float]:
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.errors.status + '
        "summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, "
        "latency:percentile(50), latency:percentile(99), summary.duration))\nend\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, int(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url + "/v1/completions",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    assert m, out
    n, errors, p50, p99, duration_us = map(int, m.groups())
    return {"requests": n, "errors": errors, "rps": n / (duration_us / 1e6), "p50_ms": p50 / 1000, "p99_ms": p99 / 1000}


def plain_envoy(config: DataPlaneConfig) -> dict[str, object]:
    """The same bootstrap without ext_proc: Envoy's own least-request over the endpoints."""
    doc = copy.deepcopy(envoy_bootstrap(config))
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "envoy.filters.http.ext_proc"]
    pool = doc["static_resources"]["clusters"][0]
    del pool["load_balancing_policy"]
    pool["lb_policy"] = "LEAST_REQUEST"
    return doc


BodyMode = Literal["BUFFERED", "FULL_DUPLEX_STREAMED"]


def local_config(
    base: int, endpoints: int, grpc_port: int, port: int, admin: int, mode: BodyMode = "BUFFERED"
) -> DataPlaneConfig:
    """Envoy on 127.0.0.1 in front of `endpoints` backend ports from `base`, asking the EPP on grpc_port."""
    return DataPlaneConfig(
        endpoints=[("127.0.0.1", base + i) for i in range(endpoints)],
        epp_host="127.0.0.1",
        epp_port=grpc_port,
        listen_host="127.0.0.1",
        listen_port=port,
        admin_port=admin,
        request_body_mode=mode,
    )


def start_rust_router(kind: str, tools: Path, urls: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """sglang-router or vllm-router with its cache-aware policy over the same endpoints."""
    launch = [str(tools / "bin" / kind), *(["launch"] if kind == "sglang-router" else [])]
    level = "warn" if kind == "sglang-router" else "warning"
    return spawn(
        [
            *launch,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--policy",
            "cache_aware",
            "--prometheus-host",
            "127.0.0.1",
            "--prometheus-port",
            str(free_port()),
            "--log-level",
            level,
            "--worker-urls",
            *urls,
        ],
        log,
    )


def rust_routers(tools: Path) -> list[str]:
    return [kind for kind in RUST_ROUTERS if (tools / "bin" / kind).exists()]


def decision_p99_us(endpoints: int = 20, prompt_chars: int = 30_000, n: int = 2000) -> dict[str, float]:
    """The EPP's per-request work in-process: parse the body, pick, account (no gRPC)."""
    import random

    from heteropool.epp.picker import EndpointPicker
    from heteropool.routing import EndpointEntry
    from heteropool.scheduling.endpoints import EndpointPool

    pool = EndpointPool(clock=time.monotonic)
    picker = EndpointPicker(pool, policy="heteropool")
    picker.apply_endpoints(
        [EndpointEntry(url=f"http://10.0.0.{i}:8000", group="g", capacity=1000.0 + i) for i in range(endpoints)]
    )
    rng = random.Random(0)
    prefixes = ["".join(rng.choice("abcdefghij ") for _ in range(prompt_chars - 200)) for _ in range(8)]
    times = []
    for i in range(n):
        body = json.dumps(
            {"model": "m", "prompt": prefixes[i % 8] + f" question {i} " * 12, "max_tokens": 100}
        ).encode()
        t0 = time.perf_counter()
        d = picker.pick("/v1/completions", body)
        times.append(time.perf_counter() - t0)
        picker.finished(d)
    times.sort()
    return {"p50_us": times[n // 2] * 1e6, "p99_us": times[int(n * 0.99)] * 1e6}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--endpoints", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    ap.add_argument("--routers", type=Path, default=ROUTERS, help="venv holding sglang-router and vllm-router")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dataplane-"))
    rows: list[str] = []
    short = {"model": "bench-model", "prompt": PROMPT, "max_tokens": 1}
    base, backend = _start_backend(args.endpoints, 0, 0, 1, tmp / "backend.log")
    procs: list[subprocess.Popen[bytes]] = [backend]
    try:
        wait_http(f"http://127.0.0.1:{base}/health", 30)
        urls = [f"http://127.0.0.1:{base + i}" for i in range(args.endpoints)]
        eps = tmp / "endpoints.yaml"
        eps.write_text(
            yaml.safe_dump([{"url": u, "group": f"g{i % 3}", "capacity": 1000.0} for i, u in enumerate(urls)])
        )
        direct = wrk(urls[0], 32, args.seconds, short, tmp)
        direct1 = wrk(urls[0], 1, args.seconds / 2, short, tmp)
        rows.append(_row("backend directly (ceiling)", direct, direct1, None, None, None))
        planes = ["plain Envoy (least-request)", "Envoy + EPP, BUFFERED", "Envoy + EPP, FULL_DUPLEX_STREAMED"]
        for kind in rust_routers(args.routers):
            port = free_port()
            proxy = start_rust_router(kind, args.routers, urls, port, tmp / f"{kind}.log")
            procs.append(proxy)
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/health", 60)
            wrk(url, 32, 2, short, tmp)
            c0 = cpu_s(proxy.pid)
            load = wrk(url, 32, args.seconds, short, tmp)
            c1 = cpu_s(proxy.pid)
            one = wrk(url, 1, args.seconds / 2, short, tmp)
            rows.append(
                _row(f"{kind} (cache_aware)", load, one, direct1, (c1 - c0) / max(load["requests"], 1) * 1e3, None)
            )
            stop_sessions(proxy)
        for name in planes:
            port, admin, grpc_port, metrics = free_port(), free_port(), free_port(), free_port()
            started: list[subprocess.Popen[bytes]] = []
            epp = None
            config = local_config(
                base, args.endpoints, grpc_port, port, admin, "FULL_DUPLEX_STREAMED" if "FULL" in name else "BUFFERED"
            )
            if "EPP" in name:
                epp = spawn(
                    epp_command(grpc_port, metrics, eps, "--log-level", "warning"),
                    tmp / "epp.log",
                )
                started.append(epp)
                wait_http(f"http://127.0.0.1:{metrics}/readyz", 30)
            doc = plain_envoy(config) if "plain" in name else envoy_bootstrap(config)
            (tmp / "envoy.yaml").write_text(yaml.safe_dump(doc))
            proxy = spawn(
                envoy_command(tmp / "envoy.yaml", port, "error"),
                tmp / "envoy.log",
            )
            started.append(proxy)
            wait_http(f"http://127.0.0.1:{admin}/ready", 30)
            procs += started
            url = f"http://127.0.0.1:{port}"
            wrk(url, 32, 2, short, tmp)  # warm up connections and caches
            cpu_before = cpu_s(proxy.pid), cpu_s(epp.pid) if epp else 0.0
            load = wrk(url, 32, args.seconds, short, tmp)
            cpu_after = cpu_s(proxy.pid), cpu_s(epp.pid) if epp else 0.0
            one = wrk(url, 1, args.seconds / 2, short, tmp)
            per_req = (
                (cpu_after[0] - cpu_before[0]) / load["requests"] * 1e3,
                (cpu_after[1] - cpu_before[1]) / load["requests"] * 1e3 if epp else None,
            )
            rows.append(_row(name, load, one, direct1, *per_req))
            stop_sessions(*started)
        stream_rows = _streaming(args, tmp, eps, base)
        decision = decision_p99_us()
    finally:
        stop_sessions(*procs)
    report = _report(args, rows, stream_rows, decision)
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


def _busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def _streaming(args: argparse.Namespace, tmp: Path, eps: Path, _base: int) -> list[str]:
    """Proxy CPU per relayed chunk: 200 streams, 50 chunks each, 20 ms apart."""
    base, backend = _start_backend(args.endpoints, 50, 20, 50, tmp / "stream-backend.log")
    rows = []
    try:
        wait_http(f"http://127.0.0.1:{base}/health", 30)
        seps = tmp / "stream-endpoints.yaml"
        seps.write_text(
            yaml.safe_dump(
                [
                    {"url": f"http://127.0.0.1:{base + i}", "group": "g", "capacity": 1000.0}
                    for i in range(args.endpoints)
                ]
            )
        )
        body = {"model": "bench-model", "prompt": PROMPT, "max_tokens": 50, "stream": True}
        for name in ("Envoy + EPP, BUFFERED",):
            port, admin, grpc_port, metrics = free_port(), free_port(), free_port(), free_port()
            started = []
            epp = spawn(
                epp_command(grpc_port, metrics, seps, "--log-level", "warning"),
                tmp / "sepp.log",
            )
            started.append(epp)
            wait_http(f"http://127.0.0.1:{metrics}/readyz", 30)
            config = local_config(base, args.endpoints, grpc_port, port, admin)
            (tmp / "senvoy.yaml").write_text(yaml.safe_dump(envoy_bootstrap(config)))
            proxy = spawn(
                envoy_command(tmp / "senvoy.yaml", port, "error"),
                tmp / "senvoy.log",
            )
            started.append(proxy)
            wait_http(f"http://127.0.0.1:{admin}/ready", 30)
            url = f"http://127.0.0.1:{port}"
            c0 = cpu_s(proxy.pid)
            result = wrk(url, 200, args.seconds, body, tmp)
            c1 = cpu_s(proxy.pid)
            chunks = result["requests"] * 52  # 50 tokens, the usage-less [DONE] and the headers' first write
            rows.append(
                f"| {name} | {result['requests']} | {result['errors']} | {(c1 - c0):.2f} | "
                f"{(c1 - c0) / chunks * 1e6:.1f} |"
            )
            stop_sessions(*started)
        for kind in rust_routers(args.routers):
            port = free_port()
            proxy = start_rust_router(
                kind,
                args.routers,
                [f"http://127.0.0.1:{base + i}" for i in range(args.endpoints)],
                port,
                tmp / f"s{kind}.log",
            )
            url = f"http://127.0.0.1:{port}"
            try:
                wait_http(url + "/health", 60)
                c0 = cpu_s(proxy.pid)
                result = wrk(url, 200, args.seconds, body, tmp)
                c1 = cpu_s(proxy.pid)
            finally:
                stop_sessions(proxy)
            chunks = result["requests"] * 52
            rows.append(
                f"| {kind} (cache_aware) | {result['requests']} | {result['errors']} | {(c1 - c0):.2f} | "
                f"{(c1 - c0) / chunks * 1e6:.1f} |"
            )
    finally:
        stop_sessions(backend)
    return rows


def _row(
    name: str,
    load: dict[str, float],
    one: dict[str, float],
    direct1: dict[str, float] | None,
    proxy_ms: float | None,
    epp_ms: float | None,
) -> str:
    added = f"+{one['p50_ms'] - direct1['p50_ms']:.2f} / +{one['p99_ms'] - direct1['p99_ms']:.2f}" if direct1 else "-"
    fmt = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
    return (
        f"| {name} | {load['rps']:,.0f} | {load['errors']:.0f} | {one['p50_ms']:.2f} / {one['p99_ms']:.2f} | {added} | "
        f"{fmt(proxy_ms)} | {fmt(epp_ms)} |"
    )


def _report(args: argparse.Namespace, rows: list[str], stream_rows: list[str], decision: dict[str, float]) -> str:
    load = os.getloadavg()
    return "\n".join(
        [
            "# Data plane: Envoy + EPP vs plain Envoy vs sglang-router and vllm-router",
            "",
            f"`{' '.join(['.venv/bin/python', 'bench/dataplane.py', *sys.argv[1:]])}` on {platform.machine()}, "
            f"{os.cpu_count()} cores shared by everything (wrk, backend, proxy, EPP), load average at the end "
            f"{load[0]:.1f}; Envoy 1.40 with one worker; {args.endpoints} endpoints in one "
            f"`heteropool sim --fixed-ttft-ms` process; {args.seconds:g} s per measurement.",
            "",
            "## Short non-streaming requests (~2 KB prompt, 1 output token)",
            "",
            "| data plane | req/s at 32 connections | errors | latency p50 / p99 at concurrency 1 (ms) "
            "| added vs direct (ms) | proxy CPU ms / request | EPP CPU ms / request |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "## Streaming: 200 concurrent streams, 50 chunks 20 ms apart",
            "",
            "| data plane | streams completed | errors | proxy CPU s | proxy CPU us / chunk |",
            "|---|---|---|---|---|",
            *stream_rows,
            "",
            "## EPP decision (in-process parse + pick + accounting), 20 endpoints, 30,000-character prompts",
            "",
            f"p50 {decision['p50_us']:.0f} us, p99 {decision['p99_us']:.0f} us",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
