"""The operator process is quiet: one INFO line per meaningful action, Events reported by heteropool."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from heteropool.handlers.kube import KINDS, connect, login
from heteropool_testing.waiting import await_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
NAMESPACE = "inference"


async def test_a_pool_created_and_settled_logs_a_few_info_lines_and_heteropool_events(
    kube_server_process: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = kube_server_process()
    monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig_path))
    kube = connect(login, field_manager="e2e-test")
    log = tmp_path / "operator.log"
    with log.open("w") as out:
        operator = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("heteropool")),
                "operator",
                "--kubeconfig",
                str(server.kubeconfig_path),
                "-n",
                NAMESPACE,
                "--standalone",
                "--metrics-port",
                "0",
                "--liveness-port",
                "0",
                "--log-format",
                "text",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        pool = yaml.safe_load((REPO / "samples" / "granite-3vendor.yaml").read_text())
        pool["spec"]["model"].pop("hfTokenSecretRef")
        for group in pool["spec"]["vendors"]:
            group.pop("roce", None)
        pool["metadata"] = {"name": "granite", "namespace": NAMESPACE}
        await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        await kube.create(pool)

        async def settled() -> bool:
            body = await kube.get(KINDS["HeteroInferencePool"], NAMESPACE, "granite") or {}
            events = await kube.list(KINDS["Event"], NAMESPACE)
            return bool((body.get("status") or {}).get("conditions")) and bool(events)

        try:
            await await_until(settled, "the pool's conditions and its Events", timeout_s=30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from None
        events = await kube.list(KINDS["Event"], NAMESPACE)
    finally:
        operator.terminate()
        operator.wait(30)
        await kube.aclose()
    lines = log.read_text().splitlines()
    info = [line for line in lines if " INFO " in line or "[INFO" in line]
    assert not [line for line in lines if "HTTP Request" in line], "API calls are logged at DEBUG only"
    assert len(info) <= 6, "\n".join(info)
    assert events and all(e["source"]["component"] == "heteropool" for e in events)
    assert not [e for e in events if e["metadata"]["name"].startswith("kopf-event")]
    assert {e["reason"] for e in events} >= {"Created"}
