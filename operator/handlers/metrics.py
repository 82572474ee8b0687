"""The operator's own Prometheus metrics (one registry per operator instance, no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from heteropool.weights import WeightUpdate

__all__ = ["OperatorMetrics"]


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.reconciles = Counter(
            "heteropool_operator_reconciles_total",
            "Pool reconciliations by trigger and result.",
            ["trigger", "result"],
            registry=self.registry,
        )
        self.reconcile_seconds = Histogram(
            "heteropool_operator_reconcile_duration_seconds",
            "Time to reconcile one pool (reads, writes and status).",
            ["trigger"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.child_writes = Counter(
            "heteropool_operator_child_writes_total",
            "Writes to child objects by action (created, updated, deleted).",
            ["action"],
            registry=self.registry,
        )
        self.api_errors = Counter(
            "heteropool_operator_api_errors_total",
            "Kubernetes API errors met while reconciling, by HTTP status (0: no connection).",
            ["status"],
            registry=self.registry,
        )
        labels = ["namespace", "pool", "group", "vendor"]
        self.vendor_weight = Gauge(
            "heteropool_vendor_weight", "Share of the pool's traffic routed to a vendor group (0..1).", labels,
            registry=self.registry,
        )  # fmt: skip
        self.vendor_capacity = Gauge(
            "heteropool_vendor_capacity_tokens_per_s", "Estimated output tokens/s of one replica of a vendor group.",
            labels, registry=self.registry,
        )  # fmt: skip
        self.vendor_observed = Gauge(
            "heteropool_vendor_observed_tokens_per_s", "Output tokens/s a vendor group served in the last interval.",
            labels, registry=self.registry,
        )  # fmt: skip
        self.scrape_errors = Counter(
            "heteropool_scrape_errors_total", "Failed scrapes of vLLM /metrics, by pool and vendor group.",
            ["namespace", "pool", "group"], registry=self.registry,
        )  # fmt: skip
        self._series: dict[tuple[str, str], set[tuple[str, ...]]] = {}

    def observe_weights(self, namespace: str, pool: str, update: WeightUpdate) -> None:
        """Export one interval's estimates; groups that left the pool disappear."""
        series = set()
        for group in update.groups.values():
            key = (namespace, pool, group.group, group.vendor)
            series.add(key)
            self.vendor_weight.labels(*key).set(group.weight)
            self.vendor_capacity.labels(*key).set(group.capacity_tokens_per_s)
            self.vendor_observed.labels(*key).set(group.observed_tokens_per_s or 0.0)
        for endpoint in update.scrape_errors:
            group = update.endpoints[endpoint].group if endpoint in update.endpoints else "unknown"
            self.scrape_errors.labels(namespace, pool, group).inc()
        for gone in self._series.get((namespace, pool), set()) - series:
            self._remove(gone)
        self._series[(namespace, pool)] = series

    def forget_pool(self, namespace: str, pool: str) -> None:
        for key in self._series.pop((namespace, pool), set()):
            self._remove(key)

    def _remove(self, key: tuple[str, ...]) -> None:
        for gauge in (self.vendor_weight, self.vendor_capacity, self.vendor_observed):
            try:
                gauge.remove(*key)
            except KeyError:
                pass
