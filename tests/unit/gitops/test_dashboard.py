"""charts/heteropool/dashboards/heteropool.json: a loadable Grafana dashboard whose queries name metrics the code
exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DASHBOARD = json.loads((REPO / "charts" / "heteropool" / "dashboards" / "heteropool.json").read_text())
SOURCE = "\n".join(p.read_text() for p in (REPO / "operator").rglob("*.py"))
# Metric names a panel may query before the code exports them (their panels stay empty until
# then). Empty now.
PLANNED: set[str] = set()
_METRIC = re.compile(r"\b(heteropool_[a-z0-9_]+|vllm:[a-z0-9_:]+)")


def targets() -> list[dict[str, Any]]:
    return [t for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def metric_names() -> set[str]:
    return {m for t in targets() for m in _METRIC.findall(t["expr"])}


def exported(name: str) -> bool:
    """In the source as written: histograms without _bucket/_sum/_count, vLLM counters without _total."""
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    candidates = {name, base, re.sub(r"_total$", "", base)}
    return any(f'"{c}"' in SOURCE for c in candidates)


def test_dashboard_is_well_formed() -> None:
    assert DASHBOARD["uid"] == "heteropool" and DASHBOARD["title"]
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    for panel in DASHBOARD["panels"]:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    for target in targets():
        assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
        assert target["datasource"]["uid"] == "${datasource}"
    variables = {v["name"] for v in DASHBOARD["templating"]["list"]}
    used = set(re.findall(r"\$(\w+)", json.dumps(targets())))
    assert used - {"__rate_interval"} <= variables


@pytest.mark.parametrize("name", sorted(metric_names()))
def test_every_queried_metric_is_exported_or_planned(name: str) -> None:
    assert exported(name) or name in PLANNED, f"{name} is neither in operator/ nor in PLANNED"


@pytest.mark.parametrize(
    "topic",
    ["weight", "routed share", "tokens/s per vendor", "time to first token", "reconciles", "capacity", "scrape errors"],
)
def test_dashboard_covers(topic: str) -> None:
    assert any(topic in p["title"].lower() for p in DASHBOARD["panels"])


def test_dashboard_queries_no_deprecated_metric_name() -> None:
    from heteropool.handlers.metrics import RENAMED_METRICS

    deprecated = {r.old for r in RENAMED_METRICS} | {f"{r.old}_total" for r in RENAMED_METRICS}
    assert not metric_names() & deprecated
