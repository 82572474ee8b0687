"""The gateway process: aiohttp server + pooled aiohttp client, endpoint source, background loops.

Library choice (measured, bench/results/gateway_bench.md): aiohttp's server and client on uvloop
is the one stack that does both ends of the proxy in one event loop with connection pooling and
chunk-by-chunk streaming; orjson parses the request body once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heteropool.gateway.endpoints import EndpointPool
from heteropool.gateway.errors import ConfigError
from heteropool.gateway.metrics import GatewayMetrics
from heteropool.gateway.policies import build_router
from heteropool.gateway.proxy import handle_inference, json_error
from heteropool.gateway.scraper import probe_loop, scrape_loop
from heteropool.gateway.settings import GatewaySettings
from heteropool.gateway.sources import EndpointSource, FileEndpointSource
from heteropool.routing import EndpointEntry, RouteRequest, Router, RoutingConfig

__all__ = ["Gateway", "serve"]

log = logging.getLogger(__name__)


class Gateway:
    """State of one gateway process: settings, endpoint pool, router, metrics, HTTP client."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        router: Router | None = None,
        clock: Callable[[], float] = time.monotonic,
        source: EndpointSource | None = None,
    ) -> None:
        self.settings = settings
        self.pool = EndpointPool(
            clock=clock,
            eject_after_failures=settings.eject_after_failures,
            eject_s=settings.eject_s,
            max_in_flight=settings.max_in_flight_per_endpoint,
        )
        self.router: Router = router or build_router(
            settings.policy, seed=settings.seed, parameters=settings.parameters
        )
        self.metrics = GatewayMetrics(lambda: self.pool)
        self.auth_header = f"Bearer {settings.api_key}" if settings.api_key else None
        self.source = source
        self._session: aiohttp.ClientSession | None = None
        self._prefix_share = getattr(self.router, "prefix_share", None)
        self._policy, self._parameters = settings.policy, dict(settings.parameters)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "gateway not started"
        return self._session

    def prefix_share(self, request: RouteRequest, endpoint_id: str) -> float | None:
        return self._prefix_share(request, endpoint_id) if self._prefix_share is not None else None

    def apply_routing_config(self, config: RoutingConfig) -> None:
        """A new routing ConfigMap: rebuild the router if its policy or parameters changed."""
        if config.policy == self._policy and config.parameters == self._parameters:
            return
        try:
            router = build_router(config.policy, seed=self.settings.seed, parameters=config.parameters)
        except ConfigError as exc:
            log.error("routing policy not applied, keeping %s: %s", self.router.name, exc)
            return
        log.info("routing policy now %s (parameters %s)", config.policy, config.parameters)
        self.router = router
        self._prefix_share = getattr(router, "prefix_share", None)
        self._policy, self._parameters = config.policy, dict(config.parameters)

    def apply_endpoints(self, entries: Sequence[EndpointEntry]) -> None:
        added, removed = self.pool.apply(entries)
        if removed:
            self.router.on_endpoints_removed(removed)
            self.metrics.forget(removed)
        if added or removed:
            log.info("endpoints: +%d -%d, now %d", len(added), len(removed), len(self.pool.urls()))

    # --- app ------------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_post("/v1/completions", self._inference)
        app.router.add_post("/v1/chat/completions", self._inference)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        app.cleanup_ctx.append(self._lifespan)
        return app

    async def _lifespan(self, app: web.Application) -> AsyncIterator[None]:
        s = self.settings
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60, enable_cleanup_closed=False)
        timeout = aiohttp.ClientTimeout(
            total=s.request_timeout_s, connect=s.connect_timeout_s, sock_read=s.read_timeout_s
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, skip_auto_headers=("User-Agent",)
        )
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(probe_loop(self._session, self.pool, s.probe_interval_s), name="probe")
        ]
        if s.scrape_interval_s > 0:
            tasks.append(asyncio.create_task(scrape_loop(self._session, self.pool, s.scrape_interval_s), name="scrape"))
        if self.source is not None:
            tasks.append(asyncio.create_task(self.source.run(self.apply_endpoints), name="source"))
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await self._session.close()

    async def _inference(self, request: web.Request) -> web.StreamResponse:
        return await handle_inference(self, request)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if self.auth_header is not None and request.headers.get("Authorization") != self.auth_header:
            return json_error(401, "missing or invalid bearer token", "authentication_error")
        views, _ = self.pool.candidates()

        async def fetch(url: str) -> list[dict[str, object]]:
            try:
                async with self.session.get(f"{url}/v1/models", timeout=aiohttp.ClientTimeout(total=3)) as r:
                    if r.status != 200:
                        return []
                    data = orjson.loads(await r.read())
                    items = data.get("data") if isinstance(data, dict) else None
                    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
            except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError):
                return []

        merged: dict[str, dict[str, object]] = {}
        for items in await asyncio.gather(*(fetch(v.id) for v in views)):
            for item in items:
                merged.setdefault(str(item.get("id")), item)
        body = orjson.dumps({"object": "list", "data": list(merged.values())})
        return web.Response(body=body, content_type="application/json")

    async def _healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def _readyz(self, request: web.Request) -> web.StreamResponse:
        if self.pool.ready():
            return web.Response(text="ready")
        return web.Response(status=503, text="no healthy endpoint")

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve(settings: GatewaySettings, *, started: Callable[[str, int], None] | None = None) -> None:
    """Run a gateway until cancelled. Calls started(host, port) once it listens."""
    source: EndpointSource | None = None
    gw: Gateway
    if settings.endpoints_file:
        fsrc = FileEndpointSource(settings.endpoints_file, settings.reload_interval_s)
        entries = fsrc.load()
        source = fsrc
        gw = Gateway(settings, source=source)
        gw.apply_endpoints(entries)
    elif settings.kube_api_url and settings.kube_namespace and settings.kube_pool:
        from heteropool.gateway.kube import InClusterCredentials, KubeEndpointSource

        gw = Gateway(settings)
        ksrc = KubeEndpointSource(
            InClusterCredentials(settings.kube_api_url), settings.kube_namespace, settings.kube_pool,
            settings.kube_configmap, on_config=gw.apply_routing_config,
        )
        gw.source = ksrc
    else:
        gw = Gateway(settings)
    runner = web.AppRunner(gw.build_app(), handler_cancellation=True, access_log=log if settings.access_log else None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096, reuse_address=True)
    await site.start()
    server = site._server
    port = settings.port
    if server is not None and getattr(server, "sockets", None):
        port = server.sockets[0].getsockname()[1]
    # Startup objects (modules, app, routes) never die: keep them out of every future GC pass.
    gc.collect()
    gc.freeze()
    if started is not None:
        started(settings.host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
