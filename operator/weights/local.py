"""Local mode plumbing shared by `heteropool weights` and `heteropool up`: endpoint entries in,
scrape targets and atomically rewritten endpoint files out, and the interval schedule."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from heteropool.routing import EndpointEntry, dump_endpoint_entries
from heteropool.routing_document import entries_from_update
from heteropool.weights.capacity import prior_from_name
from heteropool.weights.controller import ScrapeTarget, WeightUpdate
from heteropool.weights.loop import WeightLoop, rounds

__all__ = [
    "targets_from_entries",
    "write_endpoint_file",
    "update_summary",
    "run_weight_loop",
]

log = logging.getLogger(__name__)


def targets_from_entries(entries: Sequence[EndpointEntry]) -> list[ScrapeTarget]:
    """One target per entry; its group names the vendor too. Prior: the entry's `capacity`, else the vendor
    or accelerator its name maps to (vendors.py), else the mean of the known priors (equal if none)."""
    priors = [e.capacity if e.capacity else prior_from_name(e.group) for e in entries]
    known = [p for p in priors if p]
    fallback = sum(known) / len(known) if known else 1.0
    targets: list[ScrapeTarget] = []
    for entry, prior in zip(entries, priors, strict=True):
        url = entry.url.rstrip("/")
        targets.append(
            ScrapeTarget(
                endpoint_id=url,
                url=url,
                group=entry.group,
                vendor=entry.group,
                prior_capacity_tokens_per_s=prior or fallback,
                block_size=entry.block_size,
            )
        )
    return targets


def write_endpoint_file(path: Path, entries: Sequence[EndpointEntry]) -> None:
    """Write atomically (temp file in the same directory + rename): a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(dump_endpoint_entries(entries))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_summary(update: WeightUpdate) -> dict[str, object]:
    """One JSON-able line per interval (what `heteropool weights` prints)."""
    return {
        "event": "weights",
        "generation": update.generation,
        "changed": update.changed,
        "mode": update.mode,
        "groups": {
            g: {
                "weight": round(e.share, 4),
                "capacity_tokens_per_s": round(e.capacity_tokens_per_s, 1),
                "observed_tokens_per_s": None if e.observed_tokens_per_s is None else round(e.observed_tokens_per_s, 1),
                "replicas": e.ready_replicas,
                "measured": sum(1 for x in update.endpoints.values() if x.group == g and x.source == "measured"),
                "stale": e.stale,
            }
            for g, e in update.groups.items()
        },
        "scrape_errors": dict(update.scrape_errors),
    }


async def run_weight_loop(
    loop: WeightLoop,
    http: httpx.AsyncClient,
    read_entries: Callable[[], Sequence[EndpointEntry]],
    out: Path,
    *,
    interval_s: float,
    on_update: Callable[[WeightUpdate], None] | None = None,
    iterations: int | None = None,
) -> None:
    """Every `interval_s`: read the entries, scrape, and rewrite `out` when the weights changed.

    A failing `read_entries` keeps the previous entries (logged). Runs until cancelled, or for
    `iterations` rounds, on `rounds`' schedule (fixed multiples of the interval, no drift).
    """
    entries: Sequence[EndpointEntry] = ()
    async for _ in rounds(interval_s, iterations=iterations):
        try:
            entries = read_entries()
        except (OSError, ValueError) as exc:
            log.error("endpoint list not read, keeping the previous one: %s", exc)
        update = await loop.run_once(targets_from_entries(entries), http)
        if update.changed or not out.exists():
            try:
                write_endpoint_file(out, entries_from_update(update))
            except OSError as exc:
                log.error("could not write %s: %s", out, exc)
                loop.mark_unpublished()
        if on_update is not None:
            on_update(update)
        else:
            print(json.dumps(update_summary(update)), flush=True)
