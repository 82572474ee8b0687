"""The operator's metrics: Prometheus names, the deprecated aliases kept for one release, the
utilization behind capacityShare autoscaling, and series that leave with their group."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from heteropool.handlers.metrics import RENAMED_METRICS, OperatorMetrics
from heteropool.weights.controller import GroupEstimate, WeightUpdate

LABELS = {"pool_namespace": "inference", "pool": "granite", "group": "amd", "vendor": "amd"}


def _update(*groups: GroupEstimate, errors: dict[str, str] | None = None) -> WeightUpdate:
    return WeightUpdate(
        at=0.0,
        mode="auto",
        generation=1,
        changed=True,
        endpoints={},
        groups={g.group: g for g in groups},
        scrape_errors=errors or {},
    )


def _group(name: str, weight: float, capacity: float, observed: float, ready: int) -> GroupEstimate:
    return GroupEstimate(name, name, weight, capacity, observed, ready, 0, 0.0, 16)


def test_names_follow_prometheus_conventions() -> None:
    metrics = OperatorMetrics()
    metrics.observe_weights("inference", "granite", _update(_group("amd", 0.4, 2000.0, 3000.0, 2)))
    text = generate_latest(metrics.registry).decode()
    families = set(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    current = {(n, t) for n, t in families if n.startswith("heteropool_operator_")}
    assert current and all(not n.endswith("_per_s") for n, _ in current)
    assert ("heteropool_operator_vendor_weight_ratio", "gauge") in current
    assert ("heteropool_operator_vendor_capacity_tokens_per_second", "gauge") in current
    assert ("heteropool_operator_scrape_errors_total", "counter") in current
    assert not re.search(
        r'[{,]namespace="', "\n".join(line for line in text.splitlines() if line.startswith("heteropool_operator_"))
    )


def test_renamed_metrics_stay_under_their_old_names_for_one_release() -> None:
    metrics = OperatorMetrics()
    metrics.observe_weights("inference", "granite", _update(_group("amd", 0.4, 2000.0, 3000.0, 2)))
    old_labels = {"namespace": "inference", "pool": "granite", "group": "amd", "vendor": "amd"}
    get = metrics.registry.get_sample_value
    assert get("heteropool_vendor_weight", old_labels) == get("heteropool_operator_vendor_weight_ratio", LABELS) == 0.4
    assert get("heteropool_vendor_capacity_tokens_per_s", old_labels) == 2000.0
    text = generate_latest(metrics.registry).decode()
    for rename in RENAMED_METRICS:
        assert f"# HELP {rename.old}" in text or f"# HELP {rename.old}_total" in text
        assert f"Deprecated: use {rename.new} (removed in {rename.removed_in})" in text


def test_utilization_is_served_over_what_ready_replicas_can_serve() -> None:
    metrics = OperatorMetrics()
    metrics.observe_weights(
        "inference", "granite", _update(_group("amd", 0.4, 2000.0, 3000.0, 2), _group("idle", 0.0, 500.0, 0.0, 0))
    )
    assert metrics.registry.get_sample_value("heteropool_operator_vendor_utilization_ratio", LABELS) == 0.75
    idle = {**LABELS, "group": "idle", "vendor": "idle"}
    assert metrics.registry.get_sample_value("heteropool_operator_vendor_utilization_ratio", idle) == 0.0


def test_series_of_a_group_that_left_and_of_a_deleted_pool_disappear() -> None:
    metrics = OperatorMetrics()
    metrics.observe_weights(
        "inference", "granite", _update(_group("amd", 0.4, 2000.0, 3000.0, 2), _group("gone", 0.6, 1.0, 1.0, 1))
    )
    metrics.observe_weights("inference", "granite", _update(_group("amd", 1.0, 2000.0, 3000.0, 2)))
    text = generate_latest(metrics.registry).decode()
    assert 'group="gone"' not in text and 'group="amd"' in text
    metrics.forget_pool("inference", "granite")
    assert 'pool="granite"' not in generate_latest(metrics.registry).decode()


def test_pool_conditions_and_replica_counts_are_exported_for_alerts() -> None:
    metrics = OperatorMetrics()
    conditions = [
        {"type": "Ready", "status": "False"},
        {"type": "Degraded", "status": "True"},
    ]
    vendors = [{"name": "amd", "vendor": "amd", "desiredReplicas": 8, "readyReplicas": 6}]
    metrics.observe_status("inference", "granite", {"conditions": conditions, "vendors": vendors})
    get = metrics.registry.get_sample_value
    where = {"pool_namespace": "inference", "pool": "granite"}
    assert get("heteropool_operator_pool_condition", {**where, "type": "Ready", "status": "false"}) == 1.0
    assert get("heteropool_operator_pool_condition", {**where, "type": "Ready", "status": "true"}) == 0.0
    assert get("heteropool_operator_vendor_desired_replicas", LABELS) == 8
    assert get("heteropool_operator_vendor_ready_replicas", LABELS) == 6
    metrics.observe_conditions("inference", "granite", [{"type": "MetricsStale", "status": "True"}])
    assert get("heteropool_operator_pool_condition", {**where, "type": "MetricsStale", "status": "true"}) == 1.0
    assert get("heteropool_operator_pool_condition", {**where, "type": "Degraded", "status": "true"}) == 1.0  # kept
    metrics.observe_status("inference", "granite", {"conditions": conditions, "vendors": []})  # the group left
    assert get("heteropool_operator_vendor_ready_replicas", LABELS) is None
    metrics.forget_pool("inference", "granite")
    assert 'pool="granite"' not in generate_latest(metrics.registry).decode()
