"""Status summaries: conditions follow the children, and transitions keep their time."""

from __future__ import annotations

from pathlib import Path

import yaml

from heteropool.handlers.conditions import (
    ChildProblem,
    DeploymentState,
    deployment_state,
    gateway_parents,
    invalid_spec_conditions,
    summarise,
    upsert_condition,
)
from heteropool.semantics import parse_manifest

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
POOL = parse_manifest(yaml.safe_load((SAMPLES / "granite-3vendor.yaml").read_text()))
NAMES = {"nvidia": 4, "amd": 8, "intel-gaudi": 8}


def _states(ready: dict[str, int], gateway_ready: int = 2, current: bool = True) -> dict[str, DeploymentState]:
    states = {
        f"granite-vllm-{name}": DeploymentState(
            f"granite-vllm-{name}", NAMES[name], ready.get(name, 0), NAMES[name], current, False
        )
        for name in NAMES
    }
    states["granite-gateway"] = DeploymentState("granite-gateway", 2, gateway_ready, 2, current, False)
    states["granite-epp"] = DeploymentState("granite-epp", 1, 1, 1, current, False)
    return states


def _conditions(status: dict) -> dict[str, dict]:
    return {c["type"]: c for c in status["conditions"]}


def test_all_replicas_ready_makes_the_pool_ready() -> None:
    status = summarise(POOL, generation=3, deployments=_states(NAMES), previous={}, now="T1")
    conditions = _conditions(status)
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("True", "AllReplicasReady")
    assert conditions["Progressing"]["status"] == "False" and conditions["Degraded"]["status"] == "False"
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])
    assert status["replicas"] == "20/20" and status["observedGeneration"] == 3


def test_missing_replicas_keep_it_progressing_and_not_ready() -> None:
    status = summarise(POOL, generation=1, deployments=_states({"nvidia": 4, "amd": 5}), previous={}, now="T1")
    conditions = _conditions(status)
    assert conditions["Ready"]["status"] == "False" and "9/20" in conditions["Ready"]["message"]
    assert conditions["Progressing"]["status"] == "True" and "amd 5/8" in conditions["Progressing"]["message"]
    assert conditions["Degraded"]["status"] == "False"


def test_transition_time_moves_only_when_status_flips() -> None:
    first = summarise(POOL, generation=1, deployments=_states({}), previous={}, now="T1")
    second = summarise(POOL, generation=1, deployments=_states({"nvidia": 1}), previous=first, now="T2")
    assert _conditions(second)["Ready"]["lastTransitionTime"] == "T1"
    third = summarise(POOL, generation=1, deployments=_states(NAMES), previous=second, now="T3")
    assert _conditions(third)["Ready"]["lastTransitionTime"] == "T3"


def test_problem_is_degraded_with_its_reason() -> None:
    problem = ChildProblem("ChildConflict", "ConfigMap inference/granite-routing exists and is not owned")
    status = summarise(POOL, generation=1, deployments=_states(NAMES), previous={}, now="T", problem=problem)
    degraded = _conditions(status)["Degraded"]
    assert (degraded["status"], degraded["reason"]) == ("True", "ChildConflict")


def test_weight_loop_fields_survive_a_status_refresh() -> None:
    previous = {"vendors": [{"name": "amd", "vendor": "amd", "capacityTokensPerS": 2100.0, "lastScrapeTime": "T0"}]}
    status = summarise(POOL, generation=1, deployments=_states(NAMES), previous=previous, now="T", weights={"amd": 0.4})
    amd = next(v for v in status["vendors"] if v["name"] == "amd")
    assert amd["capacityTokensPerS"] == 2100.0 and amd["weight"] == 0.4 and amd["readyReplicas"] == 8
    assert status["weightSummary"] == "amd=0.40"


def test_upsert_replaces_by_type_and_keeps_others() -> None:
    conditions = upsert_condition(
        [{"type": "Custom", "status": "True"}], "Ready", "True", "Ok", "", generation=1, now="T"
    )
    assert [c["type"] for c in conditions] == ["Custom", "Ready"]


def test_deployment_state_reads_rollout_progress() -> None:
    deployment = {
        "metadata": {"name": "d", "generation": 4},
        "spec": {"replicas": 3},
        "status": {
            "observedGeneration": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}],
        },
    }
    state = deployment_state(deployment)
    assert state.ready == 3 and not state.current and state.stalled


# --- shape, per the Kubernetes API conventions ---------------------------------------------------


def _crd_status_schema() -> dict:
    crd = yaml.safe_load((SAMPLES.parent / "crds" / "heteroinferencepools.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]


def test_crd_declares_conditions_a_map_keyed_by_type_with_rfc3339_times() -> None:
    conditions = _crd_status_schema()["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map" and conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert {"type", "status", "reason", "lastTransitionTime"} <= set(item["required"])
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"
    vendors = _crd_status_schema()["properties"]["vendors"]
    assert vendors["x-kubernetes-list-type"] == "map" and vendors["x-kubernetes-list-map-keys"] == ["name"]
    assert vendors["items"]["properties"]["lastScrapeTime"]["format"] == "date-time"


def test_every_summary_carries_ready_progressing_and_degraded_once_in_order() -> None:
    status = summarise(POOL, generation=1, deployments={}, previous={}, now="2026-01-01T00:00:00Z")
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Progressing", "Degraded"]
    for condition in status["conditions"]:
        assert (
            condition["status"] in {"True", "False", "Unknown"}
            and condition["reason"]
            and condition["observedGeneration"] == 1
        )


def test_invalid_spec_makes_ready_false_with_a_reason_even_on_a_new_pool() -> None:
    conditions = invalid_spec_conditions([], "spec.vendors[0].vendor: unknown", generation=3, now="T1")
    by_type = {c["type"]: c for c in conditions}
    assert [c["type"] for c in conditions] == ["Ready", "Progressing", "Degraded"]
    assert (by_type["Ready"]["status"], by_type["Ready"]["reason"]) == ("False", "InvalidSpec")
    assert (by_type["Degraded"]["status"], by_type["Degraded"]["reason"]) == ("True", "InvalidSpec")
    assert "spec.vendors[0].vendor" in by_type["Ready"]["message"]


def test_stale_metrics_leave_a_serving_pool_ready_and_not_degraded() -> None:
    stale = {
        "type": "MetricsStale",
        "status": "True",
        "reason": "ScrapesFailing",
        "message": "m",
        "lastTransitionTime": "T0",
    }
    previous = {"conditions": [stale], "vendors": [{"name": "nvidia", "stale": True}]}
    status = summarise(POOL, generation=1, deployments=_states(NAMES), previous=previous, now="T1")
    by_type = _conditions(status)
    assert by_type["Ready"]["status"] == "True" and by_type["Degraded"]["status"] == "False"
    assert by_type["MetricsStale"] == stale  # the weight loop's condition is kept as it was
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Progressing", "Degraded", "MetricsStale"]


# --- Gateway mode: what the platform's Gateway accepted --------------------------------------------

GATEWAY_POOL = parse_manifest(
    {
        **yaml.safe_load((SAMPLES / "granite-3vendor.yaml").read_text()),
        "metadata": {"name": "granite", "namespace": "inference"},
    }
    | {
        "spec": {
            **yaml.safe_load((SAMPLES / "granite-3vendor.yaml").read_text())["spec"],
            "gateway": {"parentRefs": [{"name": "gw", "namespace": "gateway-system"}, {"name": "other"}]},
        }
    }
)


def _parents_status(*entries: tuple[str, str, dict[str, str]]) -> dict:
    return {
        "status": {
            "parents": [
                {
                    "parentRef": {"name": name, "namespace": ns},
                    "conditions": [
                        {"type": t, "status": s, "reason": f"R{t}", "message": f"m {t}"} for t, s in conds.items()
                    ],
                }
                for name, ns, conds in entries
            ]
        }
    }


def test_each_named_gateway_reports_what_it_accepted() -> None:
    route = _parents_status(
        ("gw", "gateway-system", {"Accepted": "True", "ResolvedRefs": "True"}),
        ("other", "inference", {"Accepted": "False"}),
    )
    pool = _parents_status(("gw", "gateway-system", {"Accepted": "True", "ResolvedRefs": "False"}))
    gw, other = gateway_parents(GATEWAY_POOL, route, pool)
    assert (gw["name"], gw["namespace"], gw["routeAccepted"], gw["inferencePoolAccepted"]) == (
        "gw",
        "gateway-system",
        True,
        False,
    )
    assert "InferencePool: RResolvedRefs: m ResolvedRefs" in gw["message"]
    assert (other["namespace"], other["routeAccepted"]) == ("inference", False)
    assert "HTTPRoute: RAccepted: m Accepted" in other["message"]
    assert "InferencePool: no status from this Gateway yet" in other["message"]


def test_a_gateway_mode_pool_is_ready_only_once_a_gateway_accepted_its_route() -> None:
    states = {k: v for k, v in _states(NAMES).items() if k != "granite-gateway"}
    waiting = gateway_parents(GATEWAY_POOL, None, None)
    status = summarise(GATEWAY_POOL, generation=1, deployments=states, previous={}, now="T1", parents=waiting)
    ready = _conditions(status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "RouteNotAccepted")
    assert "gw: HTTPRoute: no status from this Gateway yet" in ready["message"]
    assert [p["name"] for p in status["gateway"]["parents"]] == ["gw", "other"]
    accepted = gateway_parents(GATEWAY_POOL, _parents_status(("other", "inference", {"Accepted": "True"})), None)
    status = summarise(GATEWAY_POOL, generation=1, deployments=states, previous=status, now="T2", parents=accepted)
    assert _conditions(status)["Ready"]["status"] == "True"
