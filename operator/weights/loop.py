"""The weight loop's I/O edge: scrape every replica's `/metrics` concurrently, then update weights.

`WeightLoop.run_once(targets, http)` is the seam the operator calls every interval per pool (as
an asyncio task) and `heteropool weights` / `heteropool up` call in local mode. Each scrape is
bounded by `settings.timeout_s` (httpx timeouts plus an overall deadline, so a replica that
trickles bytes cannot hold the loop); parsing runs in a worker thread so a large exposition never
stalls the event loop. Failures never raise: they become `ScrapeError`s in the update.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import httpx

from heteropool.vllm_metrics import EngineSample, ScrapeError, parse_vllm_metrics
from heteropool.weights.controller import ScrapeTarget, WeightController, WeightSettings, WeightUpdate

__all__ = [
    "rounds",
    "ScrapeTarget",
    "WeightSettings",
    "WeightUpdate",
    "WeightLoop",
    "MAX_METRICS_BYTES",
    "scrape_metrics",
]

MAX_METRICS_BYTES = 16 * 1024 * 1024
"""A /metrics body larger than this is refused (a misbehaving replica must not exhaust memory)."""


async def scrape_metrics(http: httpx.AsyncClient, url: str, timeout_s: float) -> str:
    """GET `{url}/metrics` within `timeout_s` overall.

    Raises:
        ScrapeError: connection failure, timeout, non-200 answer or oversized body.
    """
    target = url.rstrip("/") + "/metrics"
    try:
        async with asyncio.timeout(timeout_s):
            async with http.stream("GET", target, timeout=httpx.Timeout(timeout_s)) as resp:
                if resp.status_code != 200:
                    raise ScrapeError(f"GET {target}: HTTP {resp.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_METRICS_BYTES:
                        raise ScrapeError(f"GET {target}: body larger than {MAX_METRICS_BYTES} bytes")
                    chunks.append(chunk)
    except TimeoutError:
        raise ScrapeError(f"GET {target}: no answer within {timeout_s:g} s") from None
    except httpx.TimeoutException:
        raise ScrapeError(f"GET {target}: no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise ScrapeError(f"GET {target}: {type(exc).__name__}: {exc}".rstrip(": ")) from None
    return b"".join(chunks).decode("utf-8", errors="replace")


def _parse_all(texts: Mapping[str, str]) -> dict[str, EngineSample | ScrapeError]:
    out: dict[str, EngineSample | ScrapeError] = {}
    for key, text in texts.items():
        try:
            out[key] = parse_vllm_metrics(text)
        except ScrapeError as exc:
            out[key] = exc
    return out


class WeightLoop:
    """One pool's weight loop. Not thread-safe; one `run_once` at a time (the operator's timer).

    Args:
        settings: the controller's knobs (`interval_s` is the caller's schedule; `timeout_s` bounds scrapes).
        clock: seconds; epoch time by default, so `last_scrape_at` converts with `heteropool.timestamps.rfc3339`.
    """

    def __init__(self, settings: WeightSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.controller = WeightController(settings)
        self.last: WeightUpdate | None = None

    async def run_once(self, targets: Sequence[ScrapeTarget], http: httpx.AsyncClient) -> WeightUpdate:
        """Scrape `targets` concurrently, update the estimates, return this interval's `WeightUpdate`.

        Never raises for a replica's failure (it is reported in `scrape_errors` and `stale`);
        cancelling it leaves the state as it was before the call.
        """
        timeout = self.settings.timeout_s
        assert timeout is not None  # set by WeightSettings.__post_init__
        keys = [t.endpoint_id for t in targets]
        answers = await asyncio.gather(*(scrape_metrics(http, t.url, timeout) for t in targets), return_exceptions=True)
        texts: dict[str, str] = {}
        results: dict[str, EngineSample | ScrapeError] = {}
        for key, answer in zip(keys, answers, strict=True):
            if isinstance(answer, str):
                texts[key] = answer
            elif isinstance(answer, ScrapeError):
                results[key] = answer
            elif isinstance(answer, BaseException) and not isinstance(answer, Exception):
                raise answer  # CancelledError, KeyboardInterrupt: not a scrape failure
            else:
                results[key] = ScrapeError(f"{type(answer).__name__}: {answer}")
        if texts:
            results.update(await asyncio.to_thread(_parse_all, texts))
        self.last = self.controller.update(targets, results, self.clock())
        return self.last

    def mark_unpublished(self) -> None:
        """Publishing the last changed update failed: the next `run_once` reports `changed` again."""
        self.controller.mark_unpublished()


async def rounds(interval_s: float, *, iterations: int | None = None) -> AsyncIterator[int]:
    """The weight loops' one schedule: yields round numbers at fixed multiples of `interval_s`.

    It does not drift with the work done in a round; a round that overran skips the missed slots
    rather than bursting to catch up. Endless unless `iterations` is given.
    """
    clock = asyncio.get_running_loop().time
    next_at = clock()
    done = 0
    while iterations is None or done < iterations:
        yield done
        done += 1
        next_at += interval_s
        now = clock()
        if next_at < now:  # fell behind (a slow round): skip the missed slots, do not burst
            next_at = now
        if iterations is None or done < iterations:
            await asyncio.sleep(next_at - now)
