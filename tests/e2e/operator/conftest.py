"""Operator-in-the-loop fixtures: the real operator (kopf, embedded in the test's event loop)
against the API emulator, or against a real cluster when HETEROPOOL_E2E_KUBECONFIG is set."""

from __future__ import annotations

import asyncio
import copy
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
import pytest
import pytest_asyncio
import yaml

from heteropool.handlers import FIELD_MANAGER, OperatorContext, build_registry, make_memo
from heteropool.handlers.kube import KINDS, KubeClient, connect, login
from heteropool.settings import DEFAULT_SETTINGS, RenderSettings
from heteropool_testing.waiting import await_until

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
REAL_CLUSTER = os.environ.get("HETEROPOOL_E2E_KUBECONFIG")


@dataclass
class Cluster:
    """Where the operator under test runs, with the few helpers the tests need."""

    kubeconfig: str
    namespace: str
    kube: KubeClient
    emulator: Any | None  # the API emulator; None on a real cluster
    operators: list[tuple[threading.Thread, threading.Event]] = field(default_factory=list)

    def require_emulator(self) -> Any:
        if self.emulator is None:
            pytest.skip("needs the API emulator (fault injection / write log)")
        return self.emulator

    async def start_operator(self, settings: RenderSettings = DEFAULT_SETTINGS) -> OperatorContext:
        """Run the operator in a thread with its own event loop, as `heteropool operator` runs it.

        Its own loop matters: at exit kopf waits for every task of its loop, and in the test's
        loop that would include the emulator's connection handlers.
        """
        context = OperatorContext(kube=connect(login, field_manager=FIELD_MANAGER), settings=settings)
        stop, ready = threading.Event(), threading.Event()
        operator = kopf.operator(
            registry=build_registry(),
            memo=make_memo(context, login),
            standalone=True,
            namespaces=[self.namespace],
            stop_flag=stop,
            ready_flag=ready,
        )
        thread = threading.Thread(target=asyncio.run, args=(operator,), name="operator", daemon=True)
        thread.start()
        self.operators.append((thread, stop))
        if not await asyncio.to_thread(ready.wait, 15):
            raise AssertionError("the operator did not start within 15 s")
        return context

    async def stop_operators(self) -> None:
        for _, stop in self.operators:
            stop.set()
        for thread, _ in self.operators:
            await asyncio.to_thread(thread.join, 15)
            assert not thread.is_alive(), "the operator did not stop within 15 s"
        self.operators.clear()

    async def wait(
        self, predicate: Callable[[], Awaitable[Any]], *, timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        """Re-check `predicate` until it returns something truthy or the deadline passes."""
        return await await_until(predicate, what, timeout_s=timeout)

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return await self.kube.get(KINDS[kind], self.namespace, name)

    async def children(self, pool: str) -> dict[tuple[str, str], dict[str, Any]]:
        found = {}
        for kind in (
            "Deployment",
            "Service",
            "ConfigMap",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "HorizontalPodAutoscaler",
        ):
            for obj in await self.kube.list(KINDS[kind], self.namespace, label_selector=f"heteropool.dev/pool={pool}"):
                found[(kind, obj["metadata"]["name"])] = obj
        return found

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        obj["metadata"]["namespace"] = self.namespace
        return await self.kube.create(obj)

    async def patch_pool(self, name: str, patch: dict[str, Any]) -> None:
        await self.kube.patch(KINDS["HeteroInferencePool"], self.namespace, name, patch)

    async def mark_available(self, name: str) -> None:
        """Play the deployment controller: every replica of Deployment `name` is up to date and ready."""
        deployment = await self.get("Deployment", name) or {}
        replicas = deployment["spec"].get("replicas", 1)
        status = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
        }
        await self.kube.patch(KINDS["Deployment"], self.namespace, name, {"status": status}, subresource="status")

    async def condition(self, pool: str, type_: str) -> dict[str, Any] | None:
        body = await self.get("HeteroInferencePool", pool) or {}
        return next((c for c in (body.get("status") or {}).get("conditions", []) if c["type"] == type_), None)


@pytest_asyncio.fixture
async def cluster(kube_emulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    if REAL_CLUSTER:
        monkeypatch.setenv("KUBECONFIG", REAL_CLUSTER)  # kopf's kubeconfig login reads it
        namespace = f"hp-e2e-{uuid.uuid4().hex[:8]}"
        kube = connect(login, field_manager="e2e-test")
        await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        emulator, kubeconfig = None, REAL_CLUSTER
    else:
        emulator = await kube_emulator_factory(
            crd_paths=[REPO / "crds", HERE / "network-attachment-definition-crd.yaml"]
        )
        namespace, kubeconfig = "inference", str(emulator.kubeconfig_path)
        monkeypatch.setenv("KUBECONFIG", kubeconfig)
        kube = connect(login, field_manager="e2e-test")
    cluster = Cluster(kubeconfig=kubeconfig, namespace=namespace, kube=kube, emulator=emulator)
    try:
        yield cluster
    finally:
        await cluster.stop_operators()
        await kube.aclose()


@pytest.fixture
def pool_manifest() -> Callable[..., dict[str, Any]]:
    """A 3-vendor pool like the benchmark's, minus references (Secrets, networks) the cluster lacks."""

    def make(name: str = "granite", **spec_overrides: Any) -> dict[str, Any]:
        manifest = yaml.safe_load((REPO / "samples" / "granite-3vendor.yaml").read_text())
        manifest["metadata"] = {"name": name}
        spec = manifest["spec"]
        spec["model"].pop("hfTokenSecretRef")
        for group in spec["vendors"]:
            group.pop("roce", None)
        spec.update(spec_overrides)
        return manifest

    return make
