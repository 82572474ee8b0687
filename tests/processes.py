"""Start heteropool processes (simulators, gateways) on 127.0.0.1 for process-level tests.

Imported as `processes` (tests/ is on sys.path, see tests/conftest.py). Readiness is a condition
with a deadline (an HTTP 200 from a health endpoint), never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from heteropool.localpool import free_port

__all__ = ["BIN", "Proc", "free_port", "wait_http", "start_sim", "start_gateway"]

BIN = Path(sys.executable).with_name("heteropool")


def wait_http(url: str, timeout_s: float = 20.0, status: int = 200) -> None:
    """Return once GET url answers `status`; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - 127.0.0.1 only
                if response.status == status:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} not ready in {timeout_s} s")
        time.sleep(0.05)


class Proc:
    """A child process with a base URL and a health path; `stop()` it (fixtures do)."""

    def __init__(self, args: list[str], url: str, health: str) -> None:
        self.args = args
        self.url = url
        self.health = health
        self.p: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.p = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        wait_http(self.url + self.health)
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


def start_gateway(endpoints: Path, policy: str = "heteropool", *extra: str) -> Proc:
    """A `heteropool gateway` following the endpoint file, with fast reloads and probes for tests."""
    port = free_port()
    args = [
        str(BIN), "gateway", "--port", str(port), "--endpoints", str(endpoints), "--policy", policy,
        "--reload-interval-s", "0.05", "--probe-interval-s", "0.1", "--log-level", "warning", *extra,
    ]  # fmt: skip
    return Proc(args, f"http://127.0.0.1:{port}", "/readyz").start()
