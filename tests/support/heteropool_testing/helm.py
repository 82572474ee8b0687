"""Value sets for rendering the chart with the real helm binary in tests."""

from __future__ import annotations


def helm_set(*assignments: str) -> tuple[str, ...]:
    """helm's `--set` flags, one per `key=value`."""
    return tuple(flag for assignment in assignments for flag in ("--set", assignment))


ALL_MONITORING = helm_set(
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.podMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true",
    "monitoring.grafanaDashboard.enabled=true",
)
"""Every monitoring object the chart can ship."""
