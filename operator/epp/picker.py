"""The Endpoint Picker's decisions: request in, ordered `ip:port` list out, load accounted.

No networking: the ext_proc service (service.py) feeds it parsed requests and stream events;
the same `Router` (filter -> score -> pick profiles) serves the fleet simulation. Endpoints are
keyed by their base URL (what scrapes and endpoint files use); the protocol speaks `ip:port`.

Priorities: a request's objective (its `x-gateway-inference-objective` header) gives its priority,
from the cluster's InferenceObjectives when the picker watches them, else the routing document's
`objectives`, else the default. `pick` never waits: a request no endpoint can take now raises
`Saturated`, and only then does the caller await `wait` (the request waits in the `WaitQueue`,
highest priority first, and is placed as load drains or answered 429 when its time is up).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from heteropool.epp.metrics import EppMetrics
from heteropool.routing import (
    EndpointEntry,
    EndpointView,
    NoEndpointError,
    ObjectivesRouting,
    Router,
    RouteRequest,
    RoutingConfig,
    estimate_prompt_tokens,
    expected_prefill_tokens,
)
from heteropool.scheduling.endpoints import EndpointPool
from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.openai_body import RequestBodyError, parse_inference_body
from heteropool.scheduling.policies import build_router
from heteropool.scheduling.waiting import DEFAULT_MAX_LENGTH, DEFAULT_MAX_WAIT_S, WaitQueue

__all__ = ["PickError", "Saturated", "Decision", "EndpointPicker", "INFERENCE_PATHS", "DEFAULT_OBJECTIVE"]

log = logging.getLogger(__name__)

INFERENCE_PATHS = ("/v1/completions", "/v1/chat/completions")
DEFAULT_OBJECTIVE = "default"
"""The objective label of requests that name no known objective."""
_TICK_S = 0.05  # how often waiting requests are retried besides on every first token and finish
_ids = itertools.count()
_pid = os.getpid()


class PickError(Exception):
    """The request gets an immediate answer instead of an endpoint (status, OpenAI error type)."""

    def __init__(self, status: int, message: str, kind: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.retry_after = retry_after


class Saturated(PickError):
    """No endpoint can take the request now (a 429 unless it waits: `EndpointPicker.wait`)."""

    def __init__(self, message: str, retry_after: int, pending: _Pending) -> None:
        super().__init__(429, message, "overloaded", retry_after=retry_after)
        self.pending = pending


@dataclass(slots=True, eq=False)
class _Pending:
    """A parsed request not yet placed, and (while it waits) the future its placement resolves."""

    request: RouteRequest
    subset: frozenset[str] | None
    objective: str
    started_at: float
    future: asyncio.Future[Decision] | None = None


@dataclass(slots=True)
class Decision:
    """One routed request: the primary endpoint (URL), the `ip:port` list sent to the data plane."""

    request: RouteRequest
    url: str
    addresses: list[str]
    started_at: float
    queued_tokens: int
    queued_prefill_tokens: int = 0
    served_url: str | None = None
    status: int | None = None
    done: bool = field(default=False)
    objective: str = DEFAULT_OBJECTIVE


def address_of(url: str) -> str:
    """`ip:port` of an endpoint's base URL (the protocol's endpoint form)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


class EndpointPicker:
    """Picks endpoints for requests and keeps the load counters the policies score on.

    Args:
        pool: the endpoint table (load counters, scraped state, ejection).
        policy / parameters / seed: the routing profile (rebuilt when the routing document changes).
        fallbacks: how many extra endpoints follow the primary in the answer (tried in order on retry).
        api_key: when set, requests must carry `Authorization: Bearer <key>` (else 401).
        retry_after_s: the Retry-After of 429/503 answers.
        max_wait_s / max_waiting: how long, and how many, saturated requests may wait for an
            endpoint (the wait must end before the data plane's ext_proc message timeout).
        objectives: request priorities by objective (the routing document's, until one arrives).
    """

    def __init__(
        self,
        pool: EndpointPool,
        *,
        policy: str = "heteropool",
        parameters: Mapping[str, object] | None = None,
        seed: int = 0,
        fallbacks: int = 2,
        api_key: str | None = None,
        retry_after_s: int = 1,
        metrics: EppMetrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        max_waiting: int = DEFAULT_MAX_LENGTH,
        objectives: ObjectivesRouting | None = None,
    ) -> None:
        self.pool = pool
        self._seed = seed
        self.router: Router = build_router(policy, seed=seed, parameters=parameters)
        self._policy, self._parameters = policy, dict(parameters or {})
        self.fallbacks = fallbacks
        self._auth = f"Bearer {api_key}".encode() if api_key else None
        self.retry_after_s = retry_after_s
        self.metrics = metrics or EppMetrics(pool)
        self._clock = clock
        self._by_address: dict[str, str] = {}
        self._address: dict[str, str] = {}
        self._group: dict[str, str] = {}
        self._objectives = objectives or ObjectivesRouting()
        self._cluster_objectives: dict[str, int] | None = None  # InferenceObjectives, when watched
        self._waiting: WaitQueue[_Pending] = WaitQueue(max_wait_s=max_wait_s, max_length=max_waiting)
        self._ticker: asyncio.Task[None] | None = None
        self.metrics.waiting.set_function(lambda: len(self._waiting))

    # --- configuration --------------------------------------------------------------------------
    @property
    def policy(self) -> str:
        return self._policy

    def apply_endpoints(self, entries: Sequence[EndpointEntry]) -> None:
        """Replace the endpoint set; counters of endpoints that stay are kept."""
        added, removed = self.pool.apply(entries)
        self._address = {u: address_of(u) for u in self.pool.urls()}
        self._by_address = {a: u for u, a in self._address.items()}
        self._group = {e.url.rstrip("/"): e.group for e in entries}
        if removed:
            self.router.on_endpoints_removed(removed)
            self.metrics.forget(removed)
        if added or removed:
            log.info("endpoints: +%d -%d, now %d", len(added), len(removed), len(self._by_address))

    def apply_routing_config(self, config: RoutingConfig) -> None:
        """A new routing document: its objectives; the router is rebuilt only if its policy or
        parameters changed."""
        objectives = config.objectives or ObjectivesRouting()
        if objectives != self._objectives:
            log.info(
                "objectives now %s (default priority %d)", dict(objectives.priorities), objectives.default_priority
            )
            self._objectives = objectives
        if config.policy == self._policy and config.parameters == self._parameters:
            return
        try:
            router = build_router(config.policy, seed=self._seed, parameters=config.parameters)
        except ConfigError as exc:
            log.error("routing policy not applied, keeping %s: %s", self._policy, exc)
            return
        log.info("routing policy now %s (parameters %s)", config.policy, config.parameters)
        self.router = router
        self._policy, self._parameters = config.policy, dict(config.parameters)

    def apply_cluster_objectives(self, priorities: Mapping[str, int] | None) -> None:
        """The cluster's InferenceObjectives for this pool (name -> priority); they win over the
        routing document's. None: not watched (or their API is not installed)."""
        self._cluster_objectives = None if priorities is None else dict(priorities)

    def priority_of(self, objective: str | None) -> tuple[int, str]:
        """(priority, objective label) of a request naming `objective` (None: no header)."""
        if objective is not None:
            cluster = self._cluster_objectives
            if cluster is not None and objective in cluster:
                return cluster[objective], objective
            if objective in self._objectives.priorities:
                return self._objectives.priorities[objective], objective
        return self._objectives.default_priority, DEFAULT_OBJECTIVE

    @property
    def waiting(self) -> int:
        """Requests waiting for an endpoint now."""
        return len(self._waiting)

    def ready(self) -> bool:
        """Ready to pick: at least one endpoint known and not ejected."""
        return self.pool.ready()

    # --- requests -------------------------------------------------------------------------------
    def authorize(self, authorization: str | None) -> None:
        """Raise a 401 PickError unless the request carries the configured bearer token."""
        if self._auth is None:
            return
        if authorization is None or not hmac.compare_digest(authorization.encode(), self._auth):
            self.metrics.outcome(self._policy, "unauthorized").inc()
            raise PickError(401, "missing or invalid bearer token", "authentication_error")

    def pick(
        self, path: str, body: bytes, subset: frozenset[str] | None = None, objective: str | None = None
    ) -> Decision:
        """Choose the endpoint for one request; raises PickError for an immediate answer, and
        `Saturated` when no endpoint can take it now (then the caller may `wait`).

        `subset` (the data plane's hint, `ip:port`) restricts the candidates; an empty or
        unmatched subset is a 503, as the protocol requires. `objective` names the request's
        objective (its priority).
        """
        t0 = self._clock()
        policy = self._policy
        route = path.split("?", 1)[0]
        if route in INFERENCE_PATHS and body:
            try:
                parsed = parse_inference_body(body, chat=route.endswith("/chat/completions"))
            except RequestBodyError as exc:
                self.metrics.outcome(policy, "bad_request").inc()
                raise PickError(400, str(exc), "invalid_request_error") from None
            prompt, max_tokens = parsed.prompt, parsed.max_tokens
        elif route in INFERENCE_PATHS:
            self.metrics.outcome(policy, "bad_request").inc()
            raise PickError(400, "request body is empty; expected an OpenAI JSON request", "invalid_request_error")
        else:
            prompt, max_tokens = "", 0
        priority, label = self.priority_of(objective)
        request = RouteRequest(f"{_pid}-{next(_ids)}", prompt, estimate_prompt_tokens(prompt), max_tokens, priority)
        pending = _Pending(request, subset, label, t0)
        head = self._waiting.head()
        if head is not None and priority <= head[1]:
            # requests of its priority or higher are waiting: it waits behind them
            raise Saturated("requests of the same or higher priority are waiting", self.retry_after_s, pending)
        decision = self._place(pending)
        self.metrics.picked(policy, decision.url, self._group.get(decision.url, "unknown"), self._clock() - t0)
        return decision

    def _place(self, pending: _Pending) -> Decision:
        """Route a parsed request now, or raise Saturated / PickError."""
        policy = self._policy
        request, subset = pending.request, pending.subset
        views, full = self.pool.candidates()
        if subset is not None:
            allowed = {self._by_address.get(a) for a in subset}
            views = [v for v in views if v.id in allowed]
            if not views:
                self.metrics.outcome(policy, "no_endpoint").inc()
                raise PickError(
                    503,
                    "no eligible endpoint in the data plane's subset hint",
                    "unavailable",
                    retry_after=self.retry_after_s,
                )
        if not views:
            if full:
                raise Saturated("every endpoint is at its in-flight limit", self.retry_after_s, pending)
            self.metrics.outcome(policy, "no_endpoint").inc()
            raise PickError(503, "no ready endpoint", "unavailable", retry_after=self.retry_after_s)
        try:
            url = self.router.pick(request, views)
        except NoEndpointError as exc:
            if exc.saturated:
                raise Saturated(str(exc), self.retry_after_s, pending) from None
            self.metrics.outcome(policy, "no_endpoint").inc()
            raise PickError(503, str(exc), "unavailable", retry_after=self.retry_after_s) from None
        address = self._address
        addresses = [address[url]]
        if self.fallbacks and len(views) > 1:
            addresses += [address[v.id] for v in _least_loaded(views, url, self.fallbacks)]
        prefill = expected_prefill_tokens(request.prompt_tokens, self.router.prefix_share(request, url))
        self.router.on_routed(request, url)
        self.pool.acquire(url, request.prompt_tokens, prefill)
        self.metrics.prioritized(pending.objective, request.priority)
        return Decision(
            request, url, addresses, pending.started_at, request.prompt_tokens, prefill, objective=pending.objective
        )

    # --- waiting for an endpoint -----------------------------------------------------------------
    async def wait(self, saturated: Saturated) -> Decision:
        """Wait for an endpoint for a saturated request: its Decision, or PickError 429 when the
        queue is full or its time is up (higher priority first; a newcomer of higher priority may
        take a full queue's last place, never the reverse)."""
        pending = saturated.pending
        priority = pending.request.priority
        pending.future = asyncio.get_running_loop().create_future()
        queued, displaced = self._waiting.push(pending, priority, self._clock())
        if not queued:
            raise self._reject(pending, "queue_full" if self._waiting.max_wait_s > 0 else "no_wait", str(saturated))
        self.metrics.queued(pending.objective, priority)
        if displaced is not None and displaced.future is not None and not displaced.future.done():
            displaced.future.set_exception(self._reject(displaced, "queue_full", "displaced by a higher priority"))
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick())
        try:
            return await pending.future
        except asyncio.CancelledError:
            self._waiting.remove(pending)  # the client went away while it waited
            future = pending.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self.finished(future.result())  # placed just as it went away: release the load
            raise

    def drain(self) -> None:
        """Place waiting requests that fit now, in order; answer those whose time is up."""
        waiting = self._waiting
        if not waiting:
            return
        for gone in waiting.expire(self._clock()):
            if gone.future is not None and not gone.future.done():
                gone.future.set_exception(
                    self._reject(gone, "queue_timeout", f"no endpoint freed up within {waiting.max_wait_s:g} s")
                )
        while waiting:
            pending, _priority = waiting.head()  # type: ignore[misc]
            future = pending.future
            if future is None or future.done():
                waiting.pop()
                continue
            try:
                decision = self._place(pending)
            except Saturated:
                return
            except PickError as exc:
                waiting.pop()
                future.set_exception(exc)
                continue
            waiting.pop()
            self.metrics.picked(self._policy, decision.url, self._group.get(decision.url, "unknown"), None)
            self.metrics.waited(pending.request.priority, self._clock() - pending.started_at)
            future.set_result(decision)

    async def _tick(self) -> None:
        """While requests wait: retry them now and then (scrapes change what fits, and time runs out)."""
        while self._waiting:
            await asyncio.sleep(_TICK_S)
            self.drain()

    def _reject(self, pending: _Pending, reason: str, why: str) -> PickError:
        self.metrics.outcome(self._policy, "saturated").inc()
        self.metrics.rejected(pending.objective, pending.request.priority, reason)
        return PickError(429, f"overloaded: {why}", "overloaded", retry_after=self.retry_after_s)

    def response_started(self, decision: Decision, served: str | None, status: int | None) -> None:
        """Response headers came back: the prompt is no longer queued; move load if a retry served it."""
        if decision.done:
            return
        decision.status = status
        served_url = self._by_address.get(served) if served else None
        if served_url and served_url != decision.url:
            # the data plane retried elsewhere: the load (and the failure) belong to the first try
            self.pool.release(decision.url, decision.queued_tokens, decision.queued_prefill_tokens)
            self.pool.failure(decision.url)
            self.pool.acquire(served_url, 0)
        else:
            self.pool.first_token(decision.url, decision.queued_tokens, decision.queued_prefill_tokens)
        if served_url:
            decision.url = served_url
        decision.queued_tokens = decision.queued_prefill_tokens = 0
        decision.served_url = decision.url
        if self._waiting:
            self.drain()

    def finished(self, decision: Decision) -> None:
        """The ext_proc stream ended (request complete, failed or cancelled): release its load."""
        if decision.done:
            return
        decision.done = True
        self.pool.release(decision.url, decision.queued_tokens, decision.queued_prefill_tokens)
        status = decision.status
        ok = status is not None and status < 500
        self.router.on_finished(decision.request, decision.url, ok=ok)
        if status is not None:
            if status >= 500:
                if self.pool.failure(decision.url):
                    log.warning("endpoint %s ejected after repeated %d answers", decision.url, status)
                    self.metrics.ejected(decision.url, self._group.get(decision.url, "unknown"))
            else:
                self.pool.success(decision.url)
        self.metrics.outcome(self._policy, "ok" if ok else "upstream_error" if status else "unknown").inc()
        if self._waiting:
            self.drain()


def _least_loaded(views: Sequence[EndpointView], primary: str, n: int) -> list[EndpointView]:
    """Up to n fallbacks besides the primary: serving endpoints with the most free capacity first."""
    others = [v for v in views if v.id != primary and v.capacity_multiplier != 0]
    others.sort(key=lambda v: (v.in_flight + 1) / (v.capacity_tokens_per_s or 1.0))
    return others[:n]
