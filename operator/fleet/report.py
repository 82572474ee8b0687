"""Per-stage figures of a fleet run (throughput, TTFT, ITL, failures, routed share) and a table.

Figures per priority class (`high`, `standard`, `low`, from each request's workload priority) come
with every stage, so a run with priority ignored is reported by the same classes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from heteropool.fleet.simulation import RequestRecord, StageRecord
from heteropool.routing import priority_class

__all__ = ["ClassSummary", "StageSummary", "summarize", "percentile", "markdown_table", "priority_table"]


@dataclass(frozen=True, slots=True)
class ClassSummary:
    """One priority class within a stage; `failed` excludes `rejected` (the picker's 429s)."""

    requests: int
    completed: int
    failed: int
    rejected: int
    output_tokens_per_s: float
    ttft_mean_s: float
    ttft_p99_s: float


@dataclass(frozen=True, slots=True)
class StageSummary:
    """What a load tool reports for one stage (times in seconds)."""

    index: int
    qps: float
    requests: int
    completed: int
    failures: int
    duration_s: float
    output_tokens_per_s: float
    request_rate: float
    ttft_mean_s: float
    ttft_p50_s: float
    ttft_p99_s: float
    itl_mean_s: float
    cached_fraction: float
    endpoint_share: Mapping[str, float]
    vendor_share: Mapping[str, float]
    rejected: int = 0
    by_class: Mapping[str, ClassSummary] | None = None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending sequence; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def summarize(stage: StageRecord, vendors: Mapping[str, str]) -> StageSummary:
    """Summarize one stage; `vendors` maps endpoint id -> vendor for the vendor share."""
    done = [r for r in stage.requests if r.error is None and r.finish_s is not None]
    # inference-perf's interval: from the stage's first send to its last request's end.
    first_send = min((r.arrival_s for r in stage.requests), default=stage.start_s)
    duration = max(stage.end_s - first_send, 1e-9)
    ttfts = sorted(r.ttft_s for r in done if r.ttft_s is not None)
    itls = [x for x in (r.itl_s for r in done) if x is not None]
    routed = Counter(r.endpoint for r in stage.requests if r.endpoint is not None)
    total_routed = sum(routed.values()) or 1
    by_vendor: Counter[str] = Counter()
    for endpoint, n in routed.items():
        by_vendor[vendors.get(endpoint, "?")] += n
    prompt_tokens = sum(r.prompt_tokens for r in done) or 1
    classes: dict[str, list[RequestRecord]] = {}
    for r in stage.requests:
        classes.setdefault(priority_class(r.priority), []).append(r)
    return StageSummary(
        index=stage.index,
        qps=stage.qps,
        requests=len(stage.requests),
        completed=len(done),
        failures=len(stage.requests) - len(done),
        duration_s=duration,
        output_tokens_per_s=sum(r.output_tokens for r in done) / duration,
        request_rate=len(done) / duration,
        ttft_mean_s=sum(ttfts) / len(ttfts) if ttfts else 0.0,
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p99_s=percentile(ttfts, 99),
        itl_mean_s=sum(itls) / len(itls) if itls else 0.0,
        cached_fraction=sum(r.cached_tokens for r in done) / prompt_tokens,
        endpoint_share={e: n / total_routed for e, n in sorted(routed.items())},
        vendor_share={v: n / total_routed for v, n in sorted(by_vendor.items())},
        rejected=sum(1 for r in stage.requests if r.rejected),
        by_class={c: _class_summary(rs, duration) for c, rs in classes.items()},
    )


def _class_summary(records: Sequence[RequestRecord], duration: float) -> ClassSummary:
    done = [r for r in records if r.error is None and r.finish_s is not None]
    ttfts = sorted(r.ttft_s for r in done if r.ttft_s is not None)
    rejected = sum(1 for r in records if r.rejected)
    return ClassSummary(
        requests=len(records),
        completed=len(done),
        failed=len(records) - len(done) - rejected,
        rejected=rejected,
        output_tokens_per_s=sum(r.output_tokens for r in done) / duration,
        ttft_mean_s=sum(ttfts) / len(ttfts) if ttfts else 0.0,
        ttft_p99_s=percentile(ttfts, 99),
    )


def markdown_table(summaries: Sequence[StageSummary]) -> str:
    """One row per stage, in the units a benchmark reader expects."""
    head = (
        "| QPS | requests | failed | duration s | output tok/s | req/s | TTFT mean s | TTFT p50 s "
        "| TTFT p99 s | ITL mean ms | cached | vendor share |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for s in summaries:
        share = ", ".join(f"{v} {x:.0%}" for v, x in s.vendor_share.items())
        rows.append(
            f"| {s.qps:g} | {s.requests} | {s.failures} | {s.duration_s:.1f} | {s.output_tokens_per_s:,.0f} "
            f"| {s.request_rate:.2f} | {s.ttft_mean_s:.2f} | {s.ttft_p50_s:.2f} | {s.ttft_p99_s:.2f} "
            f"| {s.itl_mean_s * 1000:.1f} | {s.cached_fraction:.0%} | {share} |"
        )
    return head + "\n".join(rows) + "\n"


def priority_table(summaries: Sequence[StageSummary], classes: Sequence[str] = ("high", "low")) -> str:
    """Per-priority rows (one per stage and class); empty when no stage has requests of those classes."""
    rows = []
    for s in summaries:
        for c in classes:
            k = (s.by_class or {}).get(c)
            if k is None:
                continue
            rows.append(
                f"| {s.qps:g} | {c} | {k.requests} | {k.failed} | {k.rejected} | {k.output_tokens_per_s:,.0f} "
                f"| {k.ttft_mean_s:.3f} | {k.ttft_p99_s:.3f} |"
            )
    if not rows:
        return ""
    head = (
        "| QPS | priority | requests | failed | rejected | output tok/s | TTFT mean s | TTFT p99 s |\n"
        "|---:|---|---:|---:|---:|---:|---:|---:|\n"
    )
    return head + "\n".join(rows) + "\n"
