"""The Endpoint Picker's Prometheus metrics, on their own registry (no module globals).

Per-endpoint series are removed when the endpoint leaves the pool, so pods that churn leave no
stale series behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from heteropool.routing import priority_class
from heteropool.scheduling.endpoints import EndpointPool

__all__ = ["EppMetrics", "OUTCOMES", "REJECTION_REASONS"]

OUTCOMES = ("ok", "upstream_error", "unknown", "bad_request", "unauthorized", "no_endpoint", "saturated")
_DECISION_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2)
_WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
REJECTION_REASONS = ("queue_full", "queue_timeout", "no_wait")


class _PoolCollector(Collector):
    """Live per-endpoint state, read at scrape time (series vanish with the endpoint)."""

    def __init__(self, pool: Callable[[], EndpointPool | None]) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self._pool()
        if pool is None:
            return
        in_flight = GaugeMetricFamily(
            "heteropool_epp_endpoint_in_flight_requests",
            "Requests picked for the endpoint and not finished.",
            labels=["endpoint", "group"],
        )
        queued = GaugeMetricFamily(
            "heteropool_epp_endpoint_queued_prompt_tokens",
            "Estimated prompt tokens not yet answered.",
            labels=["endpoint", "group"],
        )
        ejected = GaugeMetricFamily(
            "heteropool_epp_endpoint_ejected",
            "1 while the picker skips the endpoint after repeated 5xx.",
            labels=["endpoint", "group"],
        )
        out = set(pool.ejected())
        for st in pool.states():
            in_flight.add_metric([st.url, st.group], st.in_flight)
            queued.add_metric([st.url, st.group], st.queued_prompt_tokens)
            ejected.add_metric([st.url, st.group], 1.0 if st.url in out else 0.0)
        yield in_flight
        yield queued
        yield ejected


class EppMetrics:
    """Decisions (latency, per endpoint and vendor group), outcomes and ejections."""

    def __init__(self, pool: EndpointPool | None = None, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        r.register(_PoolCollector(lambda: pool))
        self.requests = Counter(
            "heteropool_epp_requests_total",
            "Requests the picker answered, by outcome.",
            ["policy", "outcome"],
            registry=r,
        )
        self.decision = Histogram(
            "heteropool_epp_decision_duration_seconds",
            "Time to parse a request and pick its endpoint.",
            ["policy"],
            buckets=_DECISION_BUCKETS,
            registry=r,
        )
        self.picks = Counter(
            "heteropool_epp_picks_total",
            "Requests sent to each endpoint (primary pick).",
            ["endpoint", "group"],
            registry=r,
        )
        self.ejections = Counter(
            "heteropool_epp_ejections_total",
            "Endpoints the picker stopped picking after repeated 5xx.",
            ["endpoint", "group"],
            registry=r,
        )
        # per priority: `objective` is a known objective's name or "default" (bounded by the
        # configuration, never by what clients send); `priority_class` is high, standard or low.
        self.priority_picks = Counter(
            "heteropool_epp_priority_picks_total",
            "Requests routed, by objective and priority class.",
            ["objective", "priority_class"],
            registry=r,
        )
        self.queued_requests = Counter(
            "heteropool_epp_queued_total",
            "Requests that waited in the picker for an endpoint.",
            ["objective", "priority_class"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "heteropool_epp_queue_wait_seconds",
            "How long placed requests waited in the picker.",
            ["priority_class"],
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.rejections = Counter(
            "heteropool_epp_rejections_total",
            "Requests answered 429 because no endpoint could take them (queue full, waited too long, no wait allowed).",
            ["objective", "priority_class", "reason"],
            registry=r,
        )
        self.waiting = Gauge("heteropool_epp_waiting_requests", "Requests waiting in the picker now.", registry=r)
        self._children: dict[tuple[str, ...], Any] = {}

    def outcome(self, policy: str, outcome: str) -> Any:
        key = ("o", policy, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(policy, outcome)
        return child

    def picked(self, policy: str, endpoint: str, group: str, seconds: float | None) -> None:
        """One primary pick; `seconds` is its decision time (None: it waited, see `waited`)."""
        key = ("p", policy, endpoint, group)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.decision.labels(policy), self.picks.labels(endpoint, group))
        if seconds is not None:
            children[0].observe(seconds)
        children[1].inc()

    def prioritized(self, objective: str, priority: int) -> None:
        key = ("r", objective, priority_class(priority))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.priority_picks.labels(objective, key[2])
        child.inc()

    def queued(self, objective: str, priority: int) -> None:
        self.queued_requests.labels(objective, priority_class(priority)).inc()

    def waited(self, priority: int, seconds: float) -> None:
        self.queue_wait.labels(priority_class(priority)).observe(seconds)

    def rejected(self, objective: str, priority: int, reason: str) -> None:
        self.rejections.labels(objective, priority_class(priority), reason).inc()

    def ejected(self, endpoint: str, group: str) -> None:
        self.ejections.labels(endpoint, group).inc()

    def forget(self, endpoints: Sequence[str]) -> None:
        """Drop every per-endpoint series of endpoints that left the pool."""
        gone = set(endpoints)
        for key in [k for k in self._children if k[0] == "p" and k[2] in gone]:
            _, _, endpoint, group = key
            del self._children[key]
            for metric in (self.picks, self.ejections):
                try:
                    metric.remove(endpoint, group)
                except KeyError:
                    pass
