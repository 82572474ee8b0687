"""The operator's own Prometheus metrics (one registry per operator instance, no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

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
