"""One mechanism for renaming user-visible Prometheus metrics: the old name stays for one release.

A rename is a row of `MetricRename` (old name, new name, label renames, the release that drops
it). `DeprecatedAliases` is a collector that, at scrape time, re-exports each renamed metric's
samples under the old name and old label names, with a HELP text saying what replaces it, so
dashboards and alerts keep working while they move. docs/platform.md, "Metric names", lists
every rename.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["MetricRename", "DeprecatedAliases"]


@dataclass(frozen=True, slots=True)
class MetricRename:
    old: str
    """The deprecated family name (without `_total` for counters)."""
    new: str
    labels: Mapping[str, str] = field(default_factory=dict)
    """New label name -> old label name, for labels renamed with the metric."""
    removed_in: str = "0.3.0"


class DeprecatedAliases(Collector):
    """Exports `(metric, rename)` pairs under their old names; the metrics stay registered as they are."""

    def __init__(self, renamed: Sequence[tuple[Any, MetricRename]]) -> None:
        self._renamed = list(renamed)

    def collect(self) -> Iterator[Metric]:
        for metric, rename in self._renamed:
            for family in metric.collect():
                alias = Metric(
                    rename.old,
                    f"Deprecated: use {rename.new} (removed in {rename.removed_in}). {family.documentation}",
                    family.type,
                    family.unit,
                )
                for sample in family.samples:
                    labels = {rename.labels.get(k, k): v for k, v in sample.labels.items()}
                    alias.add_sample(
                        rename.old + sample.name[len(family.name) :], labels, sample.value, sample.timestamp
                    )
                yield alias
