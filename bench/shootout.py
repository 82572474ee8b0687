"""Live shoot-out: inference-perf drives the shared-prefix workload through each router in turn.

Routers: Envoy + `heteropool epp` with round-robin, llm-d and heteropool, and sglang-router
(cache_aware), each in front of the same set of freshly started `heteropool sim` processes
(1 H100-NVL + 2 MI325X + 2 Gaudi 3: the published pool's 1:2:2 mix), slowed down with
`--time-scale` so that this 2-core machine can carry a saturating load. Everything binds
127.0.0.1. inference-perf's own reports go to bench/results/shootout/<router>/; the summary to
bench/results/shootout.md.

The load tools are not project dependencies; install them once in a Python 3.12 venv
:

    ~/.pyenv/versions/3.12.1/bin/python -m venv ~/.cache/heteropool-bench/venv312
    ~/.cache/heteropool-bench/venv312/bin/pip install inference-perf==0.7.0 sglang-router tokenizers
    .venv/bin/python bench/shootout.py [--tools ~/.cache/heteropool-bench/venv312] [--rates 2,4,8] [--stage-s 30]

A tokenizer directory is built offline (bench/shootout_tokenizer.py); HF_HUB_OFFLINE=1 throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from heteropool.epp.bootstrap import DataPlaneConfig, envoy_bootstrap
from heteropool.supervise import free_port, heteropool_executable
from heteropool_testing.processes import envoy_command, epp_command, spawn, stop_sessions, wait_http

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = Path.home() / ".cache" / "heteropool-bench"
MODEL = "granite-4.1-8b"
# (profile, replicas, extra sim flags, capacity prior tok/s, vendor)
REPLICAS = [
    ("h100-nvl", 1, [], 3600, "nvidia"),
    ("mi325x", 2, [], 2100, "amd"),
    ("gaudi3", 2, ["--block-size", "128", "--max-num-seqs", "256"], 630, "intel-gaudi"),
]
ROUTERS = ["envoy-epp-round-robin", "envoy-epp-llm-d", "envoy-epp-heteropool", "sglang-router-cache-aware"]
OFFLINE_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def spawn_offline(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`spawn` with Hugging Face offline and the cwd outside the repository (`python -m` there would
    import operator/ as the stdlib's operator)."""
    return spawn(args, log, env=OFFLINE_ENV, cwd=log.parent)


def start_sims(time_scale: float, logs: Path) -> tuple[list[subprocess.Popen[bytes]], list[dict[str, object]]]:
    procs, endpoints = [], []
    hp = heteropool_executable()
    for profile, count, extra, capacity, vendor in REPLICAS:
        for i in range(count):
            port = free_port()
            procs.append(
                spawn_offline(
                    [
                        hp,
                        "sim",
                        "--profile",
                        profile,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--model",
                        "ibm-granite/granite-4.1-8b",
                        "--served-model-name",
                        MODEL,
                        "--time-scale",
                        str(time_scale),
                        *extra,
                    ],
                    logs / f"sim-{profile}-{i}.log",
                )
            )
            endpoints.append(
                {
                    "url": f"http://127.0.0.1:{port}",
                    "group": vendor,
                    "capacity": capacity,
                    "blockSize": 128 if profile == "gaudi3" else 16,
                    "name": f"{profile}-{i}",
                }
            )
    for e in endpoints:
        wait_http(f"{e['url']}/health", 30)
    return procs, endpoints


def start_router(
    name: str, endpoints: list[dict[str, object]], tools: Path, logs: Path
) -> tuple[list[subprocess.Popen[bytes]], str]:
    port = free_port()
    urls = [str(e["url"]) for e in endpoints]
    if name.startswith("envoy-epp-"):
        ep_file = logs / "endpoints.yaml"
        ep_file.write_text(
            yaml.safe_dump([{k: e[k] for k in ("url", "group", "capacity", "blockSize")} for e in endpoints])
        )
        grpc_port, metrics_port, admin_port = free_port(), free_port(), free_port()
        picker = spawn_offline(
            epp_command(
                grpc_port,
                metrics_port,
                ep_file,
                "--policy",
                name.removeprefix("envoy-epp-"),
                "--log-level",
                "WARNING",
            ),
            logs / f"{name}-epp.log",
        )
        wait_http(f"http://127.0.0.1:{metrics_port}/readyz", 30)
        config = DataPlaneConfig(
            endpoints=[(str(u).split("//")[1].split(":")[0], int(str(u).rsplit(":", 1)[1])) for u in urls],
            epp_host="127.0.0.1",
            epp_port=grpc_port,
            listen_host="127.0.0.1",
            listen_port=port,
            admin_port=admin_port,
        )
        (logs / f"{name}-envoy.yaml").write_text(yaml.safe_dump(envoy_bootstrap(config)))
        envoy = spawn_offline(
            envoy_command(logs / f"{name}-envoy.yaml", base_id=port),
            logs / f"{name}-envoy.log",
        )
        wait_http(f"http://127.0.0.1:{admin_port}/ready", 30)
        return [picker, envoy], f"http://127.0.0.1:{port}"
    else:
        proc = spawn_offline(
            [
                str(tools / "bin" / "python"),
                "-m",
                "sglang_router.launch_router",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--prometheus-host",
                "127.0.0.1",
                "--prometheus-port",
                str(free_port()),
                "--log-level",
                "warn",
                "--policy",
                "cache_aware",
                "--worker-urls",
                *urls,
            ],
            logs / f"{name}.log",
        )
        wait_http(
            f"http://127.0.0.1:{port}/workers",
            60,
            body_ok=lambda text: text.count('"is_healthy":true') + text.count('"is_healthy": true') >= len(urls),
        )
    return [proc], f"http://127.0.0.1:{port}"


def perf_config(
    base_url: str, tok: Path, out: Path, rates: list[float], stage_s: float, data: dict[str, int]
) -> dict[str, object]:
    return {
        "api": {"type": "completion", "streaming": True},
        "server": {"type": "vllm", "model_name": MODEL, "base_url": base_url, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": str(tok)},
        "data": {"type": "shared_prefix", "shared_prefix": {**data, "seed": 42}},
        "load": {
            "type": "poisson",
            "interval": 1,
            "num_workers": 1,
            "worker_max_concurrency": 256,
            "stages": [{"rate": r, "duration": stage_s} for r in rates],
        },
        "report": {"request_lifecycle": {"summary": True, "per_stage": True, "per_request": False}},
        "storage": {"local_storage": {"path": str(out)}},
    }


def _counter_total(text: str, name: str) -> float:
    return sum(float(m) for m in re.findall(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M))


def cache_hit_rate(endpoints: list[dict[str, object]]) -> tuple[float, dict[str, int]]:
    hits = queries = 0.0
    routed: dict[str, int] = {}
    for e in endpoints:
        text = httpx.get(f"{e['url']}/metrics", timeout=5).text

        hits += _counter_total(text, "vllm:prefix_cache_hits_total")
        queries += _counter_total(text, "vllm:prefix_cache_queries_total")
        routed[str(e["name"])] = int(_counter_total(text, "vllm:request_success_total"))
    return (hits / queries if queries else 0.0), routed


def stage_rows(report_dir: Path) -> list[dict[str, float]]:
    rows = []
    for f in sorted(report_dir.glob("stage_*_lifecycle_metrics.json"), key=lambda p: int(p.name.split("_")[1])):
        m = json.loads(f.read_text())
        s = m.get("successes", {})
        lat, thr = s.get("latency", {}), s.get("throughput", {})
        load = m.get("load_summary", {})
        rows.append(
            {
                "stage": int(f.name.split("_")[1]),
                "rate": float(load.get("requested_rate", 0) or 0),
                "requests": float(load.get("count", 0) or s.get("count", 0) or 0),
                "failures": float(m.get("failures", {}).get("count", 0) or 0),
                "output_tokens_per_s": float(thr.get("output_tokens_per_sec", 0) or 0),
                "requests_per_s": float(thr.get("requests_per_sec", 0) or 0),
                "ttft_mean": float(lat.get("time_to_first_token", {}).get("mean", 0) or 0),
                "ttft_p50": float(lat.get("time_to_first_token", {}).get("median", 0) or 0),
                "ttft_p99": float(lat.get("time_to_first_token", {}).get("p99", 0) or 0),
                "itl_mean": float(lat.get("inter_token_latency", {}).get("mean", 0) or 0),
            }
        )
    return rows


def write_report(out: Path) -> str:
    """bench/results/shootout.md's tables from summary.json (inference-perf's per-stage figures)."""
    doc = json.loads((out / "summary.json").read_text())
    routers = doc["routers"]
    lines = [
        "| router | rate req/s | requests | failed | output tok/s | req/s "
        "| TTFT mean s | TTFT p50 s | TTFT p99 s | ITL mean ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in routers.items():
        for st in r["stages"]:
            lines.append(
                f"| {name} | {st['rate']:g} | {st['requests']:.0f} | {st['failures']:.0f} "
                f"| {st['output_tokens_per_s']:.1f} | {st['requests_per_s']:.2f} | {st['ttft_mean']:.2f} "
                f"| {st['ttft_p50']:.2f} | {st['ttft_p99']:.2f} "
                f"| {st['itl_mean'] * 1000:.0f} |"
            )
    lines += ["", "| router | prefix-cache hit rate (sims' own counters) | completed per replica |", "|---|---:|---|"]
    for name, r in routers.items():
        per = ", ".join(f"{k} {v}" for k, v in r["completed_per_replica"].items())
        lines.append(f"| {name} | {r['prefix_cache_hit_rate']:.1%} | {per} |")

    def mean_ttft(name: str) -> float:
        stages = routers[name]["stages"]
        return sum(st["ttft_mean"] * st["requests"] for st in stages) / max(1.0, sum(st["requests"] for st in stages))

    order = sorted(routers, key=mean_ttft)
    lines += [
        "",
        "Ordering by mean TTFT over all stages (lower is better): "
        + " < ".join(f"{n} ({mean_ttft(n):.2f} s)" for n in order),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tools", type=Path, default=CACHE / "venv312", help="venv with inference-perf and sglang-router"
    )
    parser.add_argument("--routers", default=",".join(ROUTERS))
    parser.add_argument("--rates", default="2,4,8", help="inference-perf Poisson stages, requests/s")
    parser.add_argument("--stage-s", type=float, default=30)
    parser.add_argument("--time-scale", type=float, default=0.1, help="sim speed (0.1 = ten times slower than the GPU)")
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--prompts-per-group", type=int, default=8)
    parser.add_argument("--system-prompt-len", type=int, default=1500)
    parser.add_argument("--question-len", type=int, default=300)
    parser.add_argument("--output-len", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS / "shootout")
    parser.add_argument("--report", action="store_true", help="only print the tables from OUT/summary.json")
    args = parser.parse_args()
    if args.report:
        print(write_report(args.out), end="")
        return

    perf = args.tools / "bin" / "inference-perf"
    if not perf.exists():
        sys.exit(f"shootout: {perf} not found; install the tools first (see this script's docstring)")
    tok = CACHE / "tok"
    if not (tok / "tokenizer.json").exists():
        subprocess.run([str(args.tools / "bin" / "python"), str(HERE / "shootout_tokenizer.py"), str(tok)], check=True)
    rates = [float(r) for r in args.rates.split(",")]
    data = {
        "num_groups": args.groups,
        "num_prompts_per_group": args.prompts_per_group,
        "system_prompt_len": args.system_prompt_len,
        "question_len": args.question_len,
        "output_len": args.output_len,
    }
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / "heteropool-shootout-logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    summary: dict[str, dict[str, object]] = {}
    for router in args.routers.split(","):
        report_dir = args.out / router
        shutil.rmtree(report_dir, ignore_errors=True)
        sims, endpoints = start_sims(args.time_scale, logs)
        procs = list(sims)
        try:
            started, url = start_router(router, endpoints, args.tools, logs)
            procs += started
            cfg = logs / f"{router}.yaml"
            cfg.write_text(yaml.safe_dump(perf_config(url, tok, report_dir, rates, args.stage_s, data)))
            t0 = time.perf_counter()
            print(f"{router}: inference-perf at {url} ...", file=sys.stderr, flush=True)
            with (logs / f"{router}-inference-perf.log").open("wb") as out:
                subprocess.run(
                    [str(perf), "-c", str(cfg)],
                    check=True,
                    env=OFFLINE_ENV,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=logs,
                    timeout=len(rates) * (args.stage_s + 60) + 120,
                )
            hit_rate, routed = cache_hit_rate(endpoints)
            summary[router] = {
                "stages": stage_rows(report_dir),
                "prefix_cache_hit_rate": hit_rate,
                "completed_per_replica": routed,
                "wall_s": time.perf_counter() - t0,
            }
            print(
                f"{router}: done in {time.perf_counter() - t0:.0f} s, cache hit rate {hit_rate:.0%}",
                file=sys.stderr,
                flush=True,
            )
        finally:
            stop_sessions(*procs)
    (args.out / "summary.json").write_text(
        json.dumps(
            {
                "settings": {
                    **vars(args) | {"tools": str(args.tools), "out": str(args.out)},
                    "replicas": [r[:2] for r in REPLICAS],
                },
                "routers": summary,
            },
            indent=1,
            default=str,
        )
    )
    print(write_report(args.out), end="")


if __name__ == "__main__":
    main()
