"""What the operator publishes from one weight-loop update: routing document, status, staleness."""

from __future__ import annotations

from pathlib import Path

import yaml

from heteropool import routing_document
from heteropool.handlers.weights import _staleness_conditions, vendor_status
from heteropool.semantics import parse_manifest
from heteropool.weights.controller import EndpointEstimate, GroupEstimate, WeightUpdate

POOL = parse_manifest(yaml.safe_load((Path(__file__).resolve().parents[3] / "samples" / "sim-pool.yaml").read_text()))


def _endpoint(url: str, group: str, *, stale: bool = False) -> EndpointEstimate:
    return EndpointEstimate(
        endpoint_id=url,
        url=url,
        group=group,
        vendor="sim",
        capacity_tokens_per_s=1000.0,
        prior_capacity_tokens_per_s=900.0,
        source="measured",
        share=0.5,
        capacity_multiplier=1.0,
        observed_tokens_per_s=400.0,
        utilization=0.4,
        decode_tokens_per_s_per_seq=50.0,
        prefill_tokens_per_s_per_seq=5000.0,
        block_size=16,
        kv_capacity_tokens=None,
        stale=stale,
        last_scrape_at=1_800_000_000.0,
        scrape_errors_total=1 if stale else 0,
        last_error="GET http://b/metrics: timeout" if stale else None,
    )


def _update(*, stale: bool = False) -> WeightUpdate:
    endpoints = {
        "http://a": _endpoint("http://a", "sim-h100"),
        "http://b": _endpoint("http://b", "sim-mi325x", stale=stale),
    }
    groups = {
        "sim-h100": GroupEstimate("sim-h100", "sim", 0.6, 1000.0, 400.0, 1, 0, 1_800_000_000.0, 16),
        "sim-mi325x": GroupEstimate("sim-mi325x", "sim", 0.4, 800.0, 300.0, 1, int(stale), 1_800_000_000.0, 16),
    }
    return WeightUpdate(at=1_800_000_000.0, mode="auto", generation=3, changed=True, endpoints=endpoints, groups=groups)


def test_routing_document_carries_weights_capacities_and_a_new_generation() -> None:
    live = routing_document.initial(POOL).model_copy(update={"generation": 4})
    document = routing_document.with_update(POOL, live, _update(), "2027-01-15T08:00:00Z")
    assert document.generation == 5 and document.updated_at == "2027-01-15T08:00:00Z"
    assert {name: v.share for name, v in document.groups.items()} == {
        "sim-h100": 0.6,
        "sim-mi325x": 0.4,
        "sim-gaudi3": 0.0,
    }
    assert document.groups["sim-gaudi3"].block_size == 128  # static facts stay as rendered
    assert {e.url for e in document.endpoints} == {"http://a", "http://b"}


def test_vendor_status_keeps_replica_counts_and_adds_the_loops_fields() -> None:
    previous = [{"name": "sim-h100", "vendor": "sim", "desiredReplicas": 2, "readyReplicas": 1}]
    status = {v["name"]: v for v in vendor_status(POOL, previous, _update())}
    assert status["sim-h100"]["readyReplicas"] == 1 and status["sim-h100"]["weight"] == 0.6
    assert status["sim-h100"]["lastScrapeTime"] == "2027-01-15T08:00:00Z"
    assert status["sim-gaudi3"]["weight"] == 0.0  # no ready replica: no traffic


def test_stale_scrapes_set_their_own_condition_and_never_degraded() -> None:
    stale = _staleness_conditions({}, _update(stale=True), 2, "T1")
    assert stale is not None and [c["type"] for c in stale] == ["MetricsStale"]
    (condition,) = stale
    assert (condition["status"], condition["reason"]) == ("True", "ScrapesFailing") and "sim-mi325x" in condition[
        "message"
    ]
    assert _staleness_conditions({"conditions": stale}, _update(stale=True), 2, "T2") is None  # nothing new: no write
    serving = [
        {"type": "Ready", "status": "True", "reason": "AllReplicasReady", "message": "", "lastTransitionTime": "T0"},
        {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": "", "lastTransitionTime": "T0"},
        *stale,
    ]
    recovered = _staleness_conditions({"conditions": serving}, _update(), 2, "T3")
    assert recovered is not None
    by_type = {c["type"]: c for c in recovered}
    assert (by_type["MetricsStale"]["status"], by_type["MetricsStale"]["reason"]) == ("False", "ScrapesCurrent")
    assert by_type["MetricsStale"]["lastTransitionTime"] == "T3"
    assert by_type["Ready"] == serving[0] and by_type["Degraded"] == serving[1]  # untouched
    assert [c["type"] for c in recovered] == ["Ready", "Degraded", "MetricsStale"]
