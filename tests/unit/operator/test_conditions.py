"""Status summaries: conditions follow the children, and transitions keep their time."""

from __future__ import annotations

from pathlib import Path

import yaml

from heteropool.conditions import ChildProblem, DeploymentState, deployment_state, summarise, upsert_condition
from heteropool.semantics import parse_manifest

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
POOL = parse_manifest(yaml.safe_load((SAMPLES / "granite-3vendor.yaml").read_text()))
NAMES = {"nvidia": 4, "amd": 8, "intel-gaudi": 8}


def _states(ready: dict[str, int], gateway_ready: int = 2, current: bool = True) -> dict[str, DeploymentState]:
    states = {
        f"granite-vllm-{name}": DeploymentState(f"granite-vllm-{name}", NAMES[name], ready.get(name, 0), NAMES[name], current, False)
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
    conditions = upsert_condition([{"type": "Custom", "status": "True"}], "Ready", "True", "Ok", "", generation=1, now="T")
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
