"""hack/kind-e2e.sh, run end to end against stub docker/kind/kubectl/helm/curl (no Docker here):
the steps happen in order, with the image name the operator renders, and the cluster it made is
deleted afterwards."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from heteropool.vendors import HETEROPOOL_IMAGE

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "hack" / "kind-e2e.sh"

_STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$STUB_LOG"
case "$(basename "$0") $*" in
  "kind get clusters"*) exit 0 ;;
  "kubectl"*"port-forward"*) exec sleep 30 ;;
  "kubectl"*"jsonpath={.status.weightSummary}"*) echo "sim-h100=0.62,sim-mi325x=0.30,sim-gaudi3=0.08" ;;
  "curl"*"/v1/completions"*) echo '{"id": "cmpl-1", "choices": [{"text": " Paris"}]}' ;;
esac
exit 0
"""


@pytest.fixture
def stub_path(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "kind", "kubectl", "helm", "curl"):
        stub = bin_dir / tool
        stub.write_text(_STUB)
        stub.chmod(0o755)
    return bin_dir


def run_script(stub_path: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp_path / "calls.log"
    log.touch()
    full_env = {
        "PATH": f"{stub_path}:/usr/bin:/bin",
        "STUB_LOG": str(log),
        "SKIP_PYTEST": "1",
        "HOME": str(tmp_path),
        **env,
    }
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, env=full_env, cwd=tmp_path)
    return out, log.read_text().splitlines()


def index_of(calls: list[str], needle: str) -> int:
    found = [i for i, call in enumerate(calls) if needle in call]
    assert found, f"no call containing {needle!r} in {calls}"
    return found[0]


def test_script_parses() -> None:
    assert os.access(SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_steps_run_in_order_and_the_new_cluster_is_deleted(stub_path: Path, tmp_path: Path) -> None:
    out, calls = run_script(stub_path, tmp_path)
    assert out.returncode == 0, out.stderr
    order = [
        "kind create cluster --name heteropool-e2e",
        f"--tag {HETEROPOOL_IMAGE} --file Dockerfile .",
        f"kind load docker-image {HETEROPOOL_IMAGE}",
        "helm upgrade --install heteropool charts/heteropool --namespace heteropool-system",
        "kubectl -n default apply -f samples/sim-pool.yaml",
        "kubectl -n default wait --for=condition=Ready hip/sim",
        "kubectl -n default port-forward service/sim-gateway",
        "/v1/completions",
        "jsonpath={.status.weightSummary}",
        "kind delete cluster --name heteropool-e2e",
    ]
    positions = [index_of(calls, step) for step in order]
    assert positions == sorted(positions), calls
    assert "image.pullPolicy=Never" in calls[index_of(calls, "helm upgrade")]
    assert "weights: sim-h100=0.62" in out.stdout


def test_namespaced_install_and_kept_cluster(stub_path: Path, tmp_path: Path) -> None:
    out, calls = run_script(stub_path, tmp_path, WATCH_NAMESPACES="default,team-a", KEEP_CLUSTER="1", SKIP_BUILD="1")
    assert out.returncode == 0, out.stderr
    assert "operator.watchNamespaces={default,team-a}" in calls[index_of(calls, "helm upgrade")]
    assert not [c for c in calls if c.startswith("docker build") or c.startswith("kind delete")]


def test_image_tag_follows_the_chart_app_version() -> None:
    chart = yaml.safe_load((REPO / "charts" / "heteropool" / "Chart.yaml").read_text())
    assert HETEROPOOL_IMAGE == f"ghcr.io/heteropool/heteropool:{chart['appVersion']}"
