"""Rollout planning: one model-server template change at a time, fixes never held, retiring groups."""

from __future__ import annotations

from typing import Any

from heteropool.handlers.rollout import RETIRE_GRACE_S, TEMPLATE_HASH, plan_rollout, with_template_hash


def _deployment(group: str, image: str, *, available: bool = True, hashed: bool = True) -> dict[str, Any]:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"p-vllm-{group}",
            "generation": 2,
            "labels": {"app.kubernetes.io/component": "model-server", "heteropool.dev/group": group},
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "vllm", "image": image}]}}},
    }
    obj = with_template_hash(obj) if hashed else obj
    obj["status"] = {"observedGeneration": 2 if available else 1, "updatedReplicas": 2, "availableReplicas": 2}
    return obj


def test_several_template_changes_apply_the_first_group_and_hold_the_rest() -> None:
    live = [_deployment(g, "v1") for g in ("a", "b", "c")]
    desired = [_deployment(g, "v2") for g in ("a", "b", "c")]
    plan = plan_rollout(desired, live, {}, 0.0)
    assert (plan.rolling, sorted(plan.held)) == (["a"], ["p-vllm-b", "p-vllm-c"])
    assert "one group at a time" in plan.notes[0]


def test_nothing_more_rolls_while_a_group_is_still_rolling_out() -> None:
    live = [_deployment("a", "v2", available=False), _deployment("b", "v1"), _deployment("c", "v1")]
    desired = [_deployment(g, "v2") for g in ("a", "b", "c")]
    assert sorted(plan_rollout(desired, live, {}, 0.0).held) == ["p-vllm-b", "p-vllm-c"]


def test_a_fix_for_a_group_that_is_not_available_is_never_held() -> None:
    live = [_deployment("a", "broken", available=False), _deployment("b", "v1")]
    desired = [_deployment("a", "v2"), _deployment("b", "v2")]
    plan = plan_rollout(desired, live, {}, 0.0)
    assert plan.rolling == ["a"] and plan.held == {"p-vllm-b"}


def test_deployments_from_an_older_operator_without_a_hash_count_as_changed() -> None:
    live = [_deployment(g, "v1", hashed=False) for g in ("a", "b")]
    desired = [_deployment(g, "v1") for g in ("a", "b")]
    assert TEMPLATE_HASH in desired[0]["metadata"]["annotations"]
    assert plan_rollout(desired, live, {}, 0.0).held == {"p-vllm-b"}


def test_a_group_that_left_the_spec_stays_until_the_rest_is_available_or_the_grace_ends() -> None:
    live = [_deployment("old", "v1"), _deployment("a", "v1", available=False)]
    desired = [_deployment("a", "v1")]
    since: dict[str, float] = {}
    assert plan_rollout(desired, live, since, 100.0).retiring == {"old"}
    assert plan_rollout(desired, live, since, 100.0 + RETIRE_GRACE_S).retiring == set()
    live[1] = _deployment("a", "v1")
    assert plan_rollout(desired, live, {}, 0.0).retiring == set()
