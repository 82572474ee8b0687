"""Server-side apply in the API emulator: field managers, conflicts, removal, list-map merging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from heteropool_testing.kube import ApiServerEmulator
from heteropool_testing.kube.http import Http as EmulatorHttp

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
APPLY = {"Content-Type": "application/apply-patch+yaml"}
MERGE = {"Content-Type": "application/merge-patch+json"}


class Http(EmulatorHttp):
    async def apply(self, body: dict[str, Any], manager: str = "heteropool", *, force: bool = False) -> tuple[int, Any]:
        query = f"?fieldManager={manager}" + ("&force=true" if force else "")
        return await self("PATCH", f"{DEPLOYMENTS}/{body['metadata']['name']}{query}", body, APPLY)


@pytest.fixture
async def http(kube_emulator_factory: Callable[..., Any]) -> AsyncIterator[Http]:
    kube: ApiServerEmulator = await kube_emulator_factory()
    async with aiohttp.ClientSession() as session:
        yield Http(session, str(kube.url).rstrip("/"))


def deployment(**container: Any) -> dict[str, Any]:
    vllm = {
        "name": "vllm",
        "image": "vllm:1",
        "ports": [{"name": "http", "containerPort": 8000}],
        "env": [{"name": "A", "value": "1"}],
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
        **container,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"app": "d"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": [vllm], "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}]},
            },
        },
    }


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"]["managedFields"]}


async def test_apply_creates_and_records_the_managers_fields(http: Http) -> None:
    status, created = await http.apply(deployment())
    assert status == 201
    fields = managers(created)[("heteropool", "Apply")]
    assert "f:replicas" in fields["f:spec"]
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"vllm"}']
    assert "." in container and 'k:{"containerPort":8000,"protocol":"TCP"}' in container["f:ports"]


async def test_apply_requires_a_field_manager(http: Http) -> None:
    status, body = await http("PATCH", f"{DEPLOYMENTS}/d", deployment(), APPLY)
    assert (status, body["reason"]) == (422, "Invalid") and "fieldManager" in body["message"]


async def test_a_no_op_apply_keeps_the_resource_version(http: Http) -> None:
    _, created = await http.apply(deployment())
    status, again = await http.apply(deployment())
    assert status == 200 and again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_foreign_fields_survive_an_apply(http: Http) -> None:
    await http.apply(deployment())
    patch = {
        "spec": {
            "template": {"spec": {"priorityClassName": "high", "tolerations": [{"key": "gpu", "operator": "Exists"}]}}
        }
    }
    await http("PATCH", f"{DEPLOYMENTS}/d?fieldManager=kubectl-patch", patch, MERGE)
    changed = deployment(image="vllm:2")
    status, applied = await http.apply(changed)
    pod = applied["spec"]["template"]["spec"]
    assert status == 200 and pod["containers"][0]["image"] == "vllm:2"
    assert pod["priorityClassName"] == "high" and pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert ("kubectl-patch", "Update") in managers(applied)


async def test_changing_a_field_another_manager_owns_conflicts_unless_forced(http: Http) -> None:
    await http.apply(deployment())
    await http("PATCH", f"{DEPLOYMENTS}/d?fieldManager=hpa", {"spec": {"replicas": 5}}, MERGE)
    status, body = await http.apply(deployment())  # still says replicas: 2
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "hpa" using apps/v1', "field": ".spec.replicas"}
    ]
    status, forced = await http.apply(deployment(), force=True)
    assert status == 200 and forced["spec"]["replicas"] == 2
    assert "f:replicas" not in managers(forced).get(("hpa", "Update"), {}).get("f:spec", {})


async def test_same_value_is_shared_and_never_conflicts(http: Http) -> None:
    await http.apply(deployment())
    status, _ = await http.apply(deployment(), manager="gitops")
    assert status == 200


async def test_fields_a_manager_stops_applying_are_removed_unless_someone_else_owns_them(http: Http) -> None:
    await http.apply(deployment())
    replicas_only = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 2}}
    await http.apply(replicas_only, manager="other")  # co-owns spec.replicas (same value)
    smaller = deployment()
    del smaller["spec"]["replicas"]
    smaller["spec"]["template"]["spec"]["containers"][0].pop("env")
    status, kept = await http.apply(smaller)
    assert status == 200 and kept["spec"]["replicas"] == 2  # "other" still owns it
    assert "env" not in kept["spec"]["template"]["spec"]["containers"][0]  # nobody else did
    status, dropped = await http.apply({**replicas_only, "spec": {"minReadySeconds": 5}}, manager="other")
    assert status == 200 and "replicas" not in dropped["spec"] and dropped["spec"]["minReadySeconds"] == 5


async def test_list_items_merge_by_key_and_leave_when_no_longer_applied(http: Http) -> None:
    await http.apply(deployment(env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]))
    await http(
        "PATCH",
        f"{DEPLOYMENTS}/d?fieldManager=kubectl-patch",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "vllm",
                                "image": "vllm:1",
                                "ports": [{"name": "http", "containerPort": 8000}],
                                "env": [
                                    {"name": "A", "value": "1"},
                                    {"name": "B", "value": "2"},
                                    {"name": "C", "value": "3"},
                                ],
                                "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
                            },
                            {"name": "sidecar", "image": "proxy:1"},
                        ]
                    }
                }
            }
        },
        MERGE,
    )
    status, applied = await http.apply(deployment(env=[{"name": "A", "value": "9"}]))
    containers = applied["spec"]["template"]["spec"]["containers"]
    assert status == 200 and [c["name"] for c in containers] == ["vllm", "sidecar"]
    assert containers[0]["env"] == [{"name": "A", "value": "9"}, {"name": "C", "value": "3"}]


async def test_a_stale_resource_version_in_an_apply_conflicts(http: Http) -> None:
    await http.apply(deployment())
    stale = deployment()
    stale["metadata"]["resourceVersion"] = "1"
    status, body = await http.apply(stale)
    assert (status, body["reason"]) == (409, "Conflict")
