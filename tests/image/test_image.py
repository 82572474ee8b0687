"""Smoke tests of the built image (`make image-test`): what the chart and the rendered pods run.

The image is HETEROPOOL_IMAGE (without it these tests skip), run with `buildah run` (chroot
isolation, host network) from buildah's STORAGE_DRIVER store (default vfs, as scripts/image.sh).

Each entry point the pods use starts from the image on 127.0.0.1 and does its job once: the
operator reconciles a pool against the API emulator, a simulator replica serves a completion,
the Endpoint Picker answers its gRPC health check (liveness, and readiness once it sees a replica).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tomllib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from heteropool.handlers.kube import KINDS
from heteropool_testing.processes import BIN, free_port, wait_http
from heteropool_testing.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
IMAGE = os.environ.get("HETEROPOOL_IMAGE", "")
NAMESPACE = "default"

pytestmark = [
    pytest.mark.image,
    pytest.mark.skipif(not IMAGE, reason="no image to test: `make image-test` builds one and sets HETEROPOOL_IMAGE"),
]


@dataclass
class Container:
    """A working container of the image; commands run as the image's user with its environment."""

    name: str
    buildah: list[str]

    def _cmd(self, argv: Sequence[str], volumes: dict[Path, str]) -> list[str]:
        mounts = [f"--volume={host}:{target}:ro" for host, target in volumes.items()]
        return [*self.buildah, "run", "--isolation", "chroot", *mounts, self.name, "--", *argv]

    def run(self, *argv: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run to completion; output captured, exit status not checked."""
        return subprocess.run(self._cmd(argv, {}), capture_output=True, text=True, timeout=timeout_s, check=False)

    @contextmanager
    def start(self, *argv: str, log: Path, volumes: dict[Path, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
        """Run in the background (output to `log`); SIGTERM to the whole process group on exit."""
        with log.open("wb") as out:
            process = subprocess.Popen(
                self._cmd(argv, volumes or {}), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            yield process
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if process.poll() is not None:
                    break
                os.killpg(process.pid, sig)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    continue


@pytest.fixture(scope="session")
def container() -> Iterator[Container]:
    """A working container of HETEROPOOL_IMAGE, removed afterwards."""
    buildah = shutil.which("buildah")
    if buildah is None:
        pytest.fail("buildah is not installed (`make image-test` installs it)")
    base = [buildah, "--storage-driver", os.environ.get("STORAGE_DRIVER", "vfs")]
    name = f"heteropool-image-test-{uuid.uuid4().hex[:8]}"
    subprocess.run([*base, "from", "--quiet", "--pull-never", "--name", name, IMAGE], check=True, capture_output=True)
    try:
        yield Container(name, base)
    finally:
        subprocess.run([*base, "rm", name], check=False, capture_output=True)


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """A folder the image's non-root user can read, for files handed to the container."""
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    return folder


def log_tail(log: Path, lines: int = 40) -> str:
    """The end of a background command's output, for assertion messages."""
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return "\n".join(text[-lines:]) or "(no output)"


def git_revision() -> str | None:
    done = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def test_image_is_labelled_and_runs_as_uid_65532(container: Container) -> None:
    inspect = subprocess.run(
        [*container.buildah, "inspect", "--type", "image", IMAGE], capture_output=True, text=True, check=True
    )
    config = json.loads(inspect.stdout)["OCIv1"]["config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.source"].startswith("https://")
    if (revision := git_revision()) is not None:
        assert labels["org.opencontainers.image.revision"] == revision
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["heteropool"]
    assert container.run("id", "-u").stdout.strip() == "65532"


def test_version(container: Container) -> None:
    done = container.run("heteropool", "--version")
    assert (done.returncode, done.stdout) == (0, f"heteropool {VERSION}\n"), done.stderr


def test_operator_reconciles_a_pool_against_the_api_emulator(
    container: Container, kube_server_process: Any, shared_dir: Path, tmp_path: Path
) -> None:
    server = kube_server_process()
    shutil.copy(server.kubeconfig_path, shared_dir / "kubeconfig")
    (shared_dir / "kubeconfig").chmod(0o644)
    sample = REPO / "samples" / "sim-pool.yaml"
    rendered = subprocess.run(
        [str(BIN), "render", "-n", NAMESPACE, str(sample)], capture_output=True, text=True, check=True
    )
    expected = {(obj["kind"], obj["metadata"]["name"]) for obj in yaml.safe_load_all(rendered.stdout) if obj}
    pool = yaml.safe_load(sample.read_text())
    pool["metadata"]["namespace"] = NAMESPACE
    liveness_port, metrics_port = free_port(), free_port()
    log = tmp_path / "operator.log"
    with (
        container.start(
            "heteropool",
            "operator",
            "--standalone",
            "-n",
            NAMESPACE,
            "--kubeconfig",
            "/smoke/kubeconfig",
            "--bind",
            "127.0.0.1",
            "--liveness-port",
            str(liveness_port),
            "--metrics-port",
            str(metrics_port),
            log=log,
            volumes={shared_dir: "/smoke"},
        ) as operator,
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        try:
            wait_http(f"http://127.0.0.1:{liveness_port}/healthz", timeout_s=60, process=operator)
            wait_http(f"http://127.0.0.1:{metrics_port}/metrics", timeout_s=5)
            api.post(KINDS["HeteroInferencePool"].path(NAMESPACE), json=pool).raise_for_status()
            wait_until(
                lambda: {(k, n) for k, n in expected if api.get(KINDS[k].path(NAMESPACE, n)).status_code == 404},
                "the pool's children (missing shown)",
                done=lambda missing: not missing,
                timeout_s=60,
            )
            status = wait_until(
                lambda: (
                    api.get(KINDS["HeteroInferencePool"].path(NAMESPACE, pool["metadata"]["name"]))
                    .json()
                    .get("status", {})
                ),
                "the pool's status",
                done=lambda s: s.get("observedGeneration") == 1 and s.get("conditions"),
                timeout_s=60,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- operator output ---\n{log_tail(log)}") from None
        assert operator.poll() is None, log_tail(log)
    assert {c["type"] for c in status["conditions"]} >= {"Ready", "Progressing"}


@contextmanager
def running_sim(container: Container, tmp_path: Path) -> Iterator[str]:
    """A `heteropool sim` replica from the image on 127.0.0.1; yields its base URL."""
    port = free_port()
    log = tmp_path / "sim.log"
    with container.start(
        "heteropool",
        "sim",
        "--profile",
        "h100-nvl",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--time-scale",
        "50",
        log=log,
    ) as sim:
        try:
            wait_http(f"http://127.0.0.1:{port}/health", timeout_s=60, process=sim)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- sim output ---\n{log_tail(log)}") from None
        yield f"http://127.0.0.1:{port}"


def test_simulator_replica_serves_a_completion(container: Container, tmp_path: Path) -> None:
    with running_sim(container, tmp_path) as url:
        response = httpx.post(
            f"{url}/v1/completions",
            json={"model": "ibm-granite/granite-4.1-8b", "prompt": "Hello", "max_tokens": 8},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["usage"]["completion_tokens"] == 8
    assert body["choices"][0]["text"]


def test_epp_answers_its_grpc_health_check(container: Container, shared_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "epp.log"
    with running_sim(container, tmp_path) as sim_url:
        endpoints = shared_dir / "endpoints.yaml"
        endpoints.write_text(yaml.safe_dump([{"url": sim_url, "vendor": "nvidia", "capacity": 3600.0}]))
        endpoints.chmod(0o644)
        with container.start(
            "heteropool",
            "epp",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--endpoints",
            "/smoke/endpoints.yaml",
            "--log-format",
            "text",
            log=log,
            volumes={shared_dir: "/smoke"},
        ) as epp:
            try:
                statuses = _wait_for_grpc_health(f"127.0.0.1:{port}", epp)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- epp output ---\n{log_tail(log)}") from None
    assert statuses == dict.fromkeys(("liveness", "readiness"), "SERVING")


def _wait_for_grpc_health(target: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> dict[str, str]:
    """grpc.health.v1 statuses of liveness and readiness, once both are SERVING (or the deadline)."""
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def statuses() -> dict[str, str]:
            if process.poll() is not None:
                raise AssertionError(f"the EPP exited with status {process.returncode}")
            found = {}
            for service in ("liveness", "readiness"):
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
                    found[service] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                except grpc.RpcError as exc:
                    found[service] = f"error: {exc.code().name}"
            return found

        return wait_until(
            statuses,
            f"gRPC health of {target}",
            done=lambda found: set(found.values()) == {"SERVING"},
            timeout_s=timeout_s,
            interval_s=0.1,
        )
