"""Credentials that change while the operator runs: rotated tokens and exec plugins."""

from __future__ import annotations

import stat
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from heteropool.handlers.kube import KINDS
from heteropool_testing.kube import write_kubeconfig

pytestmark = pytest.mark.slow

POOL = "granite"
Manifest = Callable[..., dict[str, Any]]


async def _rotation_repaired(
    cluster: Any, emulator: Any, rotate: Callable[[str], None], pool_manifest: Manifest
) -> None:
    """Create a pool, rotate the token, delete a child: the operator must log in again to repair it."""
    emulator.accepted_tokens = {"token-1"}
    rotate("token-1")
    context = await cluster.start_operator()
    await cluster.create(pool_manifest())

    async def gateway_service() -> bool:
        return await emulator_has(emulator, cluster.namespace, f"{POOL}-gateway")

    await cluster.wait(gateway_service, what="the gateway Service")
    rotate("token-2")
    emulator.accepted_tokens = {"token-2"}
    await cluster.kube.delete(
        KINDS["Service"], cluster.namespace, f"{POOL}-gateway"
    )  # the test client logs in again too
    await cluster.wait(gateway_service, timeout=20, what="the gateway Service recreated with the new token")
    assert context.kube.logins >= 2


async def emulator_has(emulator: Any, namespace: str, name: str) -> bool:
    return emulator.get_object("v1/services", namespace, name) is not None


async def test_a_rotated_kubeconfig_token_is_picked_up(cluster: Any, pool_manifest: Manifest) -> None:
    emulator = cluster.require_emulator()

    def rotate(token: str) -> None:
        write_kubeconfig(
            Path(cluster.kubeconfig), str(emulator.url), namespace=cluster.namespace, user={"token": token}
        )

    await _rotation_repaired(cluster, emulator, rotate, pool_manifest)


async def test_an_exec_plugin_is_run_again_when_its_token_expires(
    cluster: Any, pool_manifest: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = cluster.require_emulator()
    # The kubernetes package reads $KUBECONFIG once, when first imported; in this shared test
    # process that may have been another test's (a `heteropool operator` process sets it first).
    import kubernetes.config.kube_config

    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", cluster.kubeconfig)
    token_file = tmp_path / "issued-token"
    plugin = tmp_path / "issue-token"
    plugin.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import json, pathlib
        token = pathlib.Path({str(token_file)!r}).read_text().strip()
        print(json.dumps({{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                          "status": {{"token": token}}}}))
        """)
    )
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    write_kubeconfig(
        Path(cluster.kubeconfig),
        str(emulator.url),
        namespace=cluster.namespace,
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": str(plugin),
                "interactiveMode": "Never",
            }
        },
    )

    def rotate(token: str) -> None:  # what the cloud's identity service would do
        token_file.write_text(token)

    await _rotation_repaired(cluster, emulator, rotate, pool_manifest)
