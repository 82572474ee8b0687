"""One mechanism for renaming what users see: the old name stays for one release.

Metrics: a rename is a row of `MetricRename` (old name, new name, label renames, the release that
drops it). `DeprecatedAliases` is a collector that, at scrape time, re-exports each renamed
metric's samples under the old name and old label names, with a HELP text saying what replaces
it, so dashboards and alerts keep working while they move.

Document fields (the endpoint file, the routing document): a rename is a `FieldRename`;
`upgrade_fields` reads an item written with the old names as if it used the new ones and logs a
warning naming the source, the old and the new field. docs/platform.md, "Deprecated names",
lists every rename.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["REMOVED_IN", "MetricRename", "DeprecatedAliases", "FieldRename", "upgrade_fields"]

REMOVED_IN = "0.3.0"
"""The release that drops the names deprecated now."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MetricRename:
    old: str
    """The deprecated family name (without `_total` for counters)."""
    new: str
    labels: Mapping[str, str] = field(default_factory=dict)
    """New label name -> old label name, for labels renamed with the metric."""
    removed_in: str = REMOVED_IN


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


@dataclass(frozen=True, slots=True)
class FieldRename:
    old: str
    """The deprecated field name."""
    new: str
    removed_in: str = REMOVED_IN


def upgrade_fields(item: Any, renames: Sequence[FieldRename], where: str) -> Any:
    """`item` with each deprecated field under its new name (a new field given too wins), logging one
    warning per old field used; anything but a mapping is returned as it is, for validation to refuse."""
    if not isinstance(item, Mapping) or not any(r.old in item for r in renames):
        return item
    out = dict(item)
    for rename in renames:
        if rename.old in out:
            value = out.pop(rename.old)
            out.setdefault(rename.new, value)
            log.warning(
                "%s: field %r is deprecated, use %r (the old name is read until %s)",
                where,
                rename.old,
                rename.new,
                rename.removed_in,
            )
    return out
