"""The Endpoint Picker's decisions: request in, ordered `ip:port` list out, load accounted.

No networking: the ext_proc service (service.py) feeds it parsed requests and stream events;
the same `Router` (filter -> score -> pick profiles) serves the fleet simulation. Endpoints are
keyed by their base URL (what scrapes and endpoint files use); the protocol speaks `ip:port`.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from heteropool.epp.metrics import EppMetrics
from heteropool.scheduling.endpoints import EndpointPool
from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.openai_body import RequestBodyError, parse_inference_body
from heteropool.scheduling.policies import build_router
from heteropool.routing import (
    EndpointEntry,
    EndpointView,
    NoEndpointError,
    RouteRequest,
    Router,
    RoutingConfig,
    estimate_prompt_tokens,
    expected_prefill_tokens,
)

__all__ = ["PickError", "Decision", "EndpointPicker", "INFERENCE_PATHS"]

log = logging.getLogger(__name__)

INFERENCE_PATHS = ("/v1/completions", "/v1/chat/completions")
_ids = itertools.count()
_pid = os.getpid()


class PickError(Exception):
    """The request gets an immediate answer instead of an endpoint (status, OpenAI error type)."""

    def __init__(self, status: int, message: str, kind: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.retry_after = retry_after


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

    # --- configuration --------------------------------------------------------------------------
    @property
    def policy(self) -> str:
        return self._policy

    def apply_endpoints(self, entries: Sequence[EndpointEntry]) -> None:
        """Replace the endpoint set; counters of endpoints that stay are kept."""
        added, removed = self.pool.apply(entries)
        self._address = {u: address_of(u) for u in self.pool.urls()}
        self._by_address = {a: u for u, a in self._address.items()}
        self._group = {e.url.rstrip("/"): e.vendor for e in entries}
        if removed:
            self.router.on_endpoints_removed(removed)
            self.metrics.forget(removed)
        if added or removed:
            log.info("endpoints: +%d -%d, now %d", len(added), len(removed), len(self._by_address))

    def apply_routing_config(self, config: RoutingConfig) -> None:
        """A new routing document: rebuild the router only if its policy or parameters changed."""
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

    def pick(self, path: str, body: bytes, subset: frozenset[str] | None = None) -> Decision:
        """Choose the endpoint for one request; raises PickError for an immediate answer.

        `subset` (the data plane's hint, `ip:port`) restricts the candidates; an empty or
        unmatched subset is a 503, as the protocol requires.
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
        views, full = self.pool.candidates()
        if subset is not None:
            allowed = {self._by_address.get(a) for a in subset}
            views = [v for v in views if v.id in allowed]
            if not views:
                self.metrics.outcome(policy, "no_endpoint").inc()
                raise PickError(503, "no eligible endpoint in the data plane's subset hint", "unavailable",
                                retry_after=self.retry_after_s)
        if not views:
            if full:
                self.metrics.outcome(policy, "saturated").inc()
                raise PickError(429, "every endpoint is at its in-flight limit", "overloaded",
                                retry_after=self.retry_after_s)
            self.metrics.outcome(policy, "no_endpoint").inc()
            raise PickError(503, "no ready endpoint", "unavailable", retry_after=self.retry_after_s)
        request = RouteRequest(f"{_pid}-{next(_ids)}", prompt, estimate_prompt_tokens(prompt), max_tokens)
        try:
            url = self.router.pick(request, views)
        except NoEndpointError as exc:
            outcome, status, kind = ("saturated", 429, "overloaded") if exc.saturated else ("no_endpoint", 503, "unavailable")
            self.metrics.outcome(policy, outcome).inc()
            raise PickError(status, str(exc), kind, retry_after=self.retry_after_s) from None
        address = self._address
        addresses = [address[url]]
        if self.fallbacks and len(views) > 1:
            addresses += [address[v.id] for v in _least_loaded(views, url, self.fallbacks)]
        prefill = expected_prefill_tokens(request.prompt_tokens, self.router.prefix_share(request, url))
        self.router.on_routed(request, url)
        self.pool.acquire(url, request.prompt_tokens, prefill)
        self.metrics.picked(policy, url, self._group.get(url, "unknown"), self._clock() - t0)
        return Decision(request, url, addresses, t0, request.prompt_tokens, prefill)

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


def _least_loaded(views: Sequence[EndpointView], primary: str, n: int) -> list[EndpointView]:
    """Up to n fallbacks besides the primary: serving endpoints with the most free capacity first."""
    others = [v for v in views if v.id != primary and v.weight != 0]
    others.sort(key=lambda v: (v.in_flight + 1) / (v.capacity_tokens_per_s or 1.0))
    return others[:n]
