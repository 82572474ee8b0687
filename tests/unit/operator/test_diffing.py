"""Drift detection: server defaults are not drift; what we stopped rendering is removed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from heteropool.diffing import covers, merge_patch


def _deployment(**pod_spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"a": "1"}},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"annotations": {"x": "1"}},
                "spec": {"containers": [{"name": "c", "image": "i:1", "env": [{"name": "A", "value": "1"}]}], **pod_spec},
            },
        },
    }


def _as_served(obj: dict[str, Any]) -> dict[str, Any]:
    """What the API server returns: our fields plus defaults and bookkeeping."""
    live = copy.deepcopy(obj)
    live["metadata"].update({"uid": "u", "resourceVersion": "7", "generation": 1, "labels": {"a": "1", "added-by": "someone"}})
    pod = live["spec"]["template"]["spec"]
    pod.update({"dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": {}})
    pod["containers"][0].update({"terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"})
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    live["status"] = {"readyReplicas": 2}
    return live


def test_server_defaults_and_others_labels_are_not_drift() -> None:
    desired = _deployment(hostIPC=True)
    assert merge_patch(_as_served(desired), desired, "Deployment") == {}


def test_changed_scalar_is_patched_alone() -> None:
    desired = _deployment()
    live = _as_served(desired)
    desired["spec"]["replicas"] = 3
    assert merge_patch(live, desired, "Deployment") == {"spec": {"replicas": 3}}


def test_changed_container_list_is_replaced_whole() -> None:
    desired = _deployment()
    live = _as_served(desired)
    desired["spec"]["template"]["spec"]["containers"][0]["env"] = []
    patch = merge_patch(live, desired, "Deployment")
    assert patch == {"spec": {"template": {"spec": {"containers": desired["spec"]["template"]["spec"]["containers"]}}}}


def test_fields_no_longer_rendered_in_owned_parts_are_removed() -> None:
    previous = _deployment(hostIPC=True, nodeSelector={"gpu": "h100"})
    previous["spec"]["template"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "[]"
    live = _as_served(previous)
    live["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] = "now"
    patch = merge_patch(live, _deployment(), "Deployment")
    assert patch == {
        "spec": {
            "template": {
                "metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": None}},
                "spec": {"hostIPC": None, "nodeSelector": None},
            }
        }
    }


@pytest.mark.parametrize(
    ("live", "desired", "expected"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([{"a": 1, "x": 0}], [{"a": 1}], True),
        ([{"a": 1}, {"a": 2}], [{"a": 1}], False),
        (1, 1.0, True),
        (True, 1, False),
        ("1", 1, False),
    ],
    ids=["extra-live-key", "missing-key", "list-element-subset", "list-length", "int-float", "bool-int", "str-int"],
)
def test_covers(live: Any, desired: Any, expected: bool) -> None:
    assert covers(live, desired) is expected
