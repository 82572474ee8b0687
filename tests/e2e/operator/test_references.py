"""Secrets and networks a pool refers to: late arrivals converge it, deletions degrade it, nothing else stops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from heteropool.handlers.kube import KINDS

pytestmark = pytest.mark.slow

POOL = "granite"
GAUDI = f"{POOL}-vllm-intel-gaudi"
Manifest = Callable[..., dict[str, Any]]


def _secret(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque"}


async def _names(cluster: Any) -> set[tuple[str, str]]:
    return set(await cluster.children(POOL))


async def _degraded(cluster: Any) -> dict[str, Any] | None:
    condition = await cluster.condition(POOL, "Degraded")
    return condition if condition and condition["status"] == "True" else None


CHILDREN = 22  # of the three-vendor test pool: its vLLM groups, the data plane, budgets, policy, RBAC


async def test_a_secret_created_after_the_pool_converges_it_untouched(cluster: Any, pool_manifest: Manifest) -> None:
    await cluster.start_operator()
    manifest = pool_manifest()
    manifest["spec"]["vendors"][2]["imagePullSecrets"] = ["vault-habana"]
    await cluster.create(manifest)
    condition = await cluster.wait(lambda: _degraded(cluster), what="Degraded")
    assert condition["reason"] == "SecretNotFound"
    assert condition["message"].startswith(
        f"spec.vendors[2].imagePullSecrets[0]: Secret {cluster.namespace}/vault-habana not found"
    )

    async def all_but_gaudi() -> bool:
        names = await _names(cluster)
        return len(names) == CHILDREN - 1 and ("Deployment", GAUDI) not in names  # every child but the held Deployment

    await cluster.wait(all_but_gaudi, what="every child that does not need the Secret")
    # As an ExternalSecret or SealedSecret would, later: the pool converges without being touched.
    await cluster.create(_secret("vault-habana"))

    async def converged() -> bool:
        degraded = await cluster.condition(POOL, "Degraded")
        return len(await _names(cluster)) == CHILDREN and degraded is not None and degraded["status"] == "False"

    await cluster.wait(converged, timeout=15, what="the gaudi Deployment and Degraded=False")


async def test_a_deleted_secret_degrades_the_pool_and_self_healing_goes_on(
    cluster: Any, pool_manifest: Manifest
) -> None:
    await cluster.create(_secret("hf-token"))
    await cluster.start_operator()
    manifest = pool_manifest()
    manifest["spec"]["model"]["hfTokenSecretRef"] = {"name": "hf-token", "key": "token"}
    await cluster.create(manifest)

    async def all_children() -> dict[tuple[str, str], Any] | None:
        children = await cluster.children(POOL)
        return children if len(children) == CHILDREN else None

    before = await cluster.wait(all_children, what="all children")
    await cluster.kube.delete(KINDS["Secret"], cluster.namespace, "hf-token")
    await cluster.kube.delete(KINDS["Service"], cluster.namespace, f"{POOL}-gateway")
    await cluster.wait(lambda: _all_back(cluster), what="the gateway Service recreated")
    condition = await cluster.wait(lambda: _degraded(cluster), what="Degraded")
    assert condition["reason"] == "SecretNotFound" and f"Secret {cluster.namespace}/hf-token" in condition["message"]
    after = await cluster.children(POOL)
    for name in (f"{POOL}-vllm-nvidia", f"{POOL}-vllm-amd", GAUDI):  # running replicas are left as they were
        key = ("Deployment", name)
        assert after[key]["metadata"]["resourceVersion"] == before[key]["metadata"]["resourceVersion"]


async def _all_back(cluster: Any) -> bool:
    return ("Service", f"{POOL}-gateway") in await _names(cluster)
