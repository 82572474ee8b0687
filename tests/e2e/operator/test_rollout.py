"""Capacity stays up while model servers change: renamed groups and operator upgrades."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from heteropool.settings import RenderSettings

pytestmark = pytest.mark.slow

POOL = "granite"
GROUPS = ("nvidia", "amd", "intel-gaudi")
Manifest = Callable[..., dict[str, Any]]


async def _deployments(cluster: Any) -> dict[str, dict[str, Any]]:
    return {name: obj for (kind, name), obj in (await cluster.children(POOL)).items() if kind == "Deployment"}


async def _all_available(cluster: Any) -> None:
    for name in await _deployments(cluster):
        await cluster.mark_available(name)


async def _progressing(cluster: Any, text: str) -> Any:
    condition = await cluster.condition(POOL, "Progressing")
    return condition if condition and text in condition["message"] else None


async def test_a_renamed_group_keeps_serving_until_its_successor_is_available(
    cluster: Any, pool_manifest: Manifest
) -> None:
    cluster.require_emulator()  # plays the deployment controller
    await cluster.start_operator()
    manifest = pool_manifest()
    await cluster.create(manifest)

    async def created() -> bool:
        return len(await _deployments(cluster)) == 5  # 3 vLLM groups, Envoy, the picker

    await cluster.wait(created, what="the Deployments")
    await _all_available(cluster)
    old, new = f"{POOL}-vllm-nvidia", f"{POOL}-vllm-h100"
    manifest["spec"]["vendors"][0]["name"] = "h100"
    await cluster.patch_pool(POOL, {"spec": {"vendors": manifest["spec"]["vendors"]}})

    async def both() -> bool:
        deployments = await _deployments(cluster)
        return old in deployments and new in deployments

    await cluster.wait(both, what="the new group beside the old one")
    await cluster.wait(lambda: _progressing(cluster, "keeping nvidia until"), what="the old group shown in status")
    assert (await cluster.get("Service", old)) is not None  # its endpoints stay reachable too
    await cluster.mark_available(new)

    async def old_gone() -> bool:
        return old not in await _deployments(cluster) and await cluster.get("Service", old) is None

    await cluster.wait(old_gone, what="the old group removed once the new one is available")


async def test_an_operator_upgrade_rolls_gpu_groups_one_at_a_time(cluster: Any, pool_manifest: Manifest) -> None:
    cluster.require_emulator()  # plays the deployment controller
    await cluster.start_operator()
    await cluster.create(pool_manifest())

    async def created() -> bool:
        return len(await _deployments(cluster)) == 5  # 3 vLLM groups, Envoy, the picker

    await cluster.wait(created, what="the Deployments")
    await _all_available(cluster)
    await cluster.wait(lambda: _progressing(cluster, "every child matches"), what="a settled pool")
    await cluster.stop_operators()
    # The new version renders every pod template differently (here: images from a mirror).
    await cluster.start_operator(RenderSettings(image_registry="mirror.example.com"))

    def upgraded(deployments: dict[str, dict[str, Any]]) -> list[str]:
        return [
            group
            for group in GROUPS
            if deployments[f"{POOL}-vllm-{group}"]["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
                "mirror.example.com/"
            )
        ]

    for count in range(1, len(GROUPS) + 1):

        async def rolled(count: int = count) -> list[str] | None:
            done = upgraded(await _deployments(cluster))
            return done if len(done) >= count else None

        done = await cluster.wait(rolled, what=f"{count} group(s) upgraded")
        assert len(done) == count, f"more than one group restarted at once: {done}"
        if count < len(GROUPS):
            await cluster.wait(lambda: _progressing(cluster, "one group at a time"), what="the rollout in status")
        await _all_available(cluster)
