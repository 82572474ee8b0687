"""The operator's own Prometheus metrics (one registry per operator instance, no globals)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from heteropool.deprecations import DeprecatedAliases, MetricRename
from heteropool.render import UTILIZATION_METRIC

if TYPE_CHECKING:
    from heteropool.weights.controller import WeightUpdate

__all__ = ["OperatorMetrics", "RENAMED_METRICS"]

_POOL_NAMESPACE = {"pool_namespace": "namespace"}
RENAMED_METRICS = (
    MetricRename("heteropool_vendor_weight", "heteropool_operator_vendor_weight_ratio", _POOL_NAMESPACE),
    MetricRename(
        "heteropool_vendor_capacity_tokens_per_s",
        "heteropool_operator_vendor_capacity_tokens_per_second",
        _POOL_NAMESPACE,
    ),
    MetricRename(
        "heteropool_vendor_observed_tokens_per_s",
        "heteropool_operator_vendor_observed_tokens_per_second",
        _POOL_NAMESPACE,
    ),
    MetricRename("heteropool_scrape_errors", "heteropool_operator_scrape_errors_total", _POOL_NAMESPACE),
)
"""The operator's renamed metrics (0.2.0), still exported under their old names until `removed_in`."""


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

        def group_gauge(name: str, documentation: str) -> Gauge:
            """A gauge with one series per vendor group of each pool. `pool_namespace`, not `namespace`:
            Prometheus sets `namespace` to the operator's own, and a ServiceMonitor should not need
            honorLabels to keep ours."""
            return Gauge(name, documentation, ["pool_namespace", "pool", "group", "vendor"], registry=self.registry)

        self.vendor_weight = group_gauge(
            "heteropool_operator_vendor_weight_ratio", "Share of the pool's traffic routed to a vendor group (0..1)."
        )
        self.vendor_capacity = group_gauge(
            "heteropool_operator_vendor_capacity_tokens_per_second",
            "Estimated output tokens per second one replica of a vendor group can serve.",
        )
        self.vendor_observed = group_gauge(
            "heteropool_operator_vendor_observed_tokens_per_second",
            "Output tokens per second a vendor group served in the last weight interval.",
        )
        self.vendor_utilization = group_gauge(
            UTILIZATION_METRIC,
            "Output tokens a vendor group served over what its ready replicas can serve (the capacityShare "
            "autoscaling signal; above 1 means overloaded).",
        )
        self.vendor_desired_replicas = group_gauge(
            "heteropool_operator_vendor_desired_replicas",
            "Replicas a vendor group should run (its autoscaler's, if any).",
        )
        self.vendor_ready_replicas = group_gauge(
            "heteropool_operator_vendor_ready_replicas", "Ready replicas of a vendor group."
        )
        self.scrape_errors = Counter(
            "heteropool_operator_scrape_errors",
            "Failed scrapes of vLLM /metrics, by pool and vendor group.",
            ["pool_namespace", "pool", "group"],
            registry=self.registry,
        )
        self.pool_condition = Gauge(
            "heteropool_operator_pool_condition",
            "1 for the current status (true, false, unknown) of each pool condition, 0 for the others.",
            ["pool_namespace", "pool", "type", "status"],
            registry=self.registry,
        )
        self._status_series: dict[tuple[str, str], set[tuple[Any, tuple[str, ...]]]] = {}
        current = (self.vendor_weight, self.vendor_capacity, self.vendor_observed, self.scrape_errors)
        renamed = dict(zip(current, RENAMED_METRICS, strict=True))
        self.registry.register(DeprecatedAliases(list(renamed.items())))
        self._series: dict[tuple[str, str], set[tuple[str, ...]]] = {}

    def observe_weights(self, namespace: str, pool: str, update: WeightUpdate) -> None:
        """Export one interval's estimates; groups that left the pool disappear."""
        series: set[tuple[str, ...]] = set()
        for group in update.groups.values():
            key = (namespace, pool, group.group, group.vendor)
            series.add(key)
            self.vendor_weight.labels(*key).set(group.share)
            self.vendor_capacity.labels(*key).set(group.capacity_tokens_per_s)
            self.vendor_observed.labels(*key).set(group.observed_tokens_per_s or 0.0)
            can_serve = group.capacity_tokens_per_s * group.ready_replicas
            self.vendor_utilization.labels(*key).set(
                (group.observed_tokens_per_s or 0.0) / can_serve if can_serve > 0 else 0.0
            )
        for endpoint in update.scrape_errors:
            group_name = update.endpoints[endpoint].group if endpoint in update.endpoints else "unknown"
            self.scrape_errors.labels(namespace, pool, group_name).inc()
        for gone in self._series.get((namespace, pool), set()) - series:
            self._remove(gone)
        self._series[(namespace, pool)] = series

    def observe_conditions(self, namespace: str, pool: str, conditions: Sequence[Mapping[str, Any]]) -> None:
        """Export the given conditions of a pool (others keep their last value)."""
        series = self._status_series.setdefault((namespace, pool), set())
        for condition in conditions:
            current = str(condition.get("status", "Unknown")).lower()
            for value in ("true", "false", "unknown"):
                key = (namespace, pool, str(condition.get("type")), value)
                self.pool_condition.labels(*key).set(1.0 if value == current else 0.0)
                series.add((self.pool_condition, key))

    def observe_status(self, namespace: str, pool: str, status: Mapping[str, Any]) -> None:
        """Export a pool's conditions and per-group replica counts (what the chart's alerts watch)."""
        self.observe_conditions(namespace, pool, status.get("conditions") or [])
        series = self._status_series[(namespace, pool)]
        groups = set()
        for group in status.get("vendors") or []:
            key = (namespace, pool, str(group.get("name")), str(group.get("vendor")))
            groups.add(key)
            self.vendor_desired_replicas.labels(*key).set(group.get("desiredReplicas", 0))
            self.vendor_ready_replicas.labels(*key).set(group.get("readyReplicas", 0))
        counts = (self.vendor_desired_replicas, self.vendor_ready_replicas)
        for metric, gone in [s for s in series if s[0] in counts and s[1] not in groups]:  # groups that left
            _discard(metric, gone)
            series.discard((metric, gone))
        series |= {(metric, key) for metric in counts for key in groups}

    def forget_pool(self, namespace: str, pool: str) -> None:
        for key in self._series.pop((namespace, pool), set()):
            self._remove(key)
        for metric, key in self._status_series.pop((namespace, pool), set()):
            _discard(metric, key)

    def _remove(self, key: tuple[str, ...]) -> None:
        for gauge in (self.vendor_weight, self.vendor_capacity, self.vendor_observed, self.vendor_utilization):
            _discard(gauge, key)


def _discard(metric: Any, key: tuple[str, ...]) -> None:
    try:
        metric.remove(*key)
    except KeyError:
        pass
