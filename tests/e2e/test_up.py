"""`heteropool up samples/sim-pool.yaml`: serves an OpenAI completion within 30 s through Envoy + the EPP, stops
cleanly.

The real command as a process; the test reads its output for the gateway URL and the child
pids, sends one completion with the openai client, then SIGINT, and checks that no child survives.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from heteropool.supervise import free_port, heteropool_executable
from heteropool_testing.waiting import wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "sim-pool.yaml"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has exited (its parent is gone and nobody reaped it yet)


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def _start_up(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    """`heteropool up` on the sample pool (one replica per group, 1 s weight interval); its output in a file."""
    log = tmp_path / "up.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [heteropool_executable(), "up", str(SAMPLE), "--max-replicas-per-group", "1", "--interval", "1", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return proc, log


def _wait_serving(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until `up` prints its serving line (or exits, which the caller's assertions then report)."""
    wait_until(lambda: "serving model" in log.read_text() or proc.poll() is not None, "the serving line", timeout_s=30)


def test_up_serves_an_openai_completion_within_30_s_and_stops_on_sigint(tmp_path: Path) -> None:
    import openai

    port = free_port()
    started = time.monotonic()
    proc, log = _start_up(tmp_path, "--port", str(port), "--time-scale", "5")
    try:
        _wait_serving(proc, log)
        text = log.read_text()
        assert proc.poll() is None, text
        url = re.search(r"at (http://\S+/v1)", text).group(1)  # type: ignore[union-attr]
        with openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=20) as client:
            completion = client.completions.create(model="granite-4.1-8b", prompt="Hello, pool", max_tokens=8)
        elapsed = time.monotonic() - started
        assert completion.choices[0].text and completion.usage.completion_tokens == 8
        assert elapsed < 30, f"first completion after {elapsed:.1f} s"
        wait_until(lambda: "GROUP" in log.read_text(), "the live table", timeout_s=10)
        children = _children(proc.pid)
        printed = {int(p) for p in re.findall(r"pid=(\d+)", log.read_text())}
        assert len(printed) == 5 and printed <= children  # 3 simulators, the endpoint picker and Envoy
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        wait_until(lambda: not any(_alive(p) for p in printed | children), "children gone", timeout_s=5)
        assert "stopped 5 processes" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_children_die_with_a_killed_up(tmp_path: Path) -> None:
    proc, log = _start_up(tmp_path, "--port", str(free_port()))
    try:
        _wait_serving(proc, log)
        printed = {int(p) for p in re.findall(r"pid=(\d+)", log.read_text())}
        assert len(printed) == 5
        proc.kill()  # SIGKILL: no chance to clean up; the parent-death signal must do it
        proc.wait(10)
        wait_until(lambda: not any(_alive(p) for p in printed), "orphans gone", timeout_s=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
