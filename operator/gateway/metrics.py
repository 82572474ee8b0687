"""The gateway's Prometheus metrics, on their own CollectorRegistry (no module globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from heteropool.gateway.endpoints import EndpointPool

__all__ = ["GatewayMetrics", "EndpointMetrics", "OUTCOMES"]

OUTCOMES = (
    "ok",
    "client_error",
    "upstream_error",
    "timeout",
    "no_endpoint",
    "saturated",
    "cancelled",
    "rejected",
)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320)
_DECISION_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2)


class _PoolCollector(Collector):
    def __init__(self, pool: Callable[[], EndpointPool]) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self._pool()
        in_flight = GaugeMetricFamily(
            "heteropool_gateway_endpoint_in_flight_requests", "Requests in flight per endpoint.",
            labels=["endpoint", "vendor"],
        )
        ejected = GaugeMetricFamily(
            "heteropool_gateway_endpoint_ejected", "1 while the endpoint is ejected.", labels=["endpoint", "vendor"]
        )
        ejected_set = set(pool.ejected())
        for st in pool.states():
            in_flight.add_metric([st.url, st.vendor], st.in_flight)
            ejected.add_metric([st.url, st.vendor], 1.0 if st.url in ejected_set else 0.0)
        yield in_flight
        yield ejected


@dataclass(frozen=True, slots=True)
class EndpointMetrics:
    """Label-bound children for one endpoint (labels() is resolved once, not per request)."""

    routed: Any
    prompt_tokens: Any
    completion_tokens: Any
    prefix_hit: Any
    ejections: Any


class GatewayMetrics:
    """All gateway metrics; labels are bounded (policy, outcome, endpoint, vendor)."""

    def __init__(self, pool: Callable[[], EndpointPool], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "heteropool_gateway_requests_total", "Inference requests by outcome.", ["policy", "outcome"], registry=r
        )
        self.ttft = Histogram(
            "heteropool_gateway_ttft_seconds", "Time to the first upstream body byte.", ["policy"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.e2e = Histogram(
            "heteropool_gateway_request_duration_seconds", "End-to-end request time through the gateway.",
            ["policy"], buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.decision = Histogram(
            "heteropool_gateway_decision_seconds", "Routing decision time (pick).", ["policy"],
            buckets=_DECISION_BUCKETS, registry=r,
        )
        self.routed = Counter(
            "heteropool_gateway_routed_requests_total", "Requests sent per endpoint.", ["endpoint", "vendor"],
            registry=r,
        )
        self.prompt_tokens = Counter(
            "heteropool_gateway_prompt_tokens_total", "Prompt tokens per endpoint (usage, else estimate).",
            ["endpoint", "vendor"], registry=r,
        )
        self.completion_tokens = Counter(
            "heteropool_gateway_completion_tokens_total", "Completion tokens per endpoint (from usage).",
            ["endpoint", "vendor"], registry=r,
        )
        self.prefix_hit = Histogram(
            "heteropool_gateway_prefix_hit_ratio", "Estimated cached share of each routed prompt.", ["vendor"],
            buckets=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0), registry=r,
        )
        self.retries = Counter(
            "heteropool_gateway_retries_total", "Requests retried on another endpoint.", ["reason"], registry=r
        )
        self.ejections = Counter(
            "heteropool_gateway_ejections_total", "Endpoint ejections.", ["endpoint", "vendor"], registry=r
        )
        r.register(_PoolCollector(pool))
        self._endpoints: dict[tuple[str, str], EndpointMetrics] = {}
        self._policy: dict[tuple[str, str], Any] = {}

    def endpoint(self, url: str, vendor: str) -> EndpointMetrics:
        key = (url, vendor)
        em = self._endpoints.get(key)
        if em is None:
            em = self._endpoints[key] = EndpointMetrics(
                routed=self.routed.labels(url, vendor),
                prompt_tokens=self.prompt_tokens.labels(url, vendor),
                completion_tokens=self.completion_tokens.labels(url, vendor),
                prefix_hit=self.prefix_hit.labels(vendor),
                ejections=self.ejections.labels(url, vendor),
            )
        return em

    def forget(self, urls: list[str]) -> None:
        """Drop every per-endpoint series of endpoints that left the pool (pods churn; series must not pile up)."""
        gone = set(urls)
        for key in [k for k in self._endpoints if k[0] in gone]:
            del self._endpoints[key]
            for metric in (self.routed, self.prompt_tokens, self.completion_tokens, self.ejections):
                try:
                    metric.remove(*key)
                except KeyError:
                    pass

    def outcome(self, policy: str, outcome: str) -> Any:
        """The requests_total child for (policy, outcome), cached."""
        key = (policy, outcome)
        child = self._policy.get(key)
        if child is None:
            child = self._policy[key] = self.requests.labels(policy, outcome)
        return child

    def timing(self, policy: str) -> tuple[Any, Any, Any]:
        """(decision, ttft, e2e) histogram children for a policy, cached."""
        key = (policy, "")
        t = self._policy.get(key)
        if t is None:
            t = self._policy[key] = (
                self.decision.labels(policy), self.ttft.labels(policy), self.e2e.labels(policy)
            )
        return t  # type: ignore[no-any-return]
