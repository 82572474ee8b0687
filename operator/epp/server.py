"""The `heteropool epp` process: the ext_proc gRPC server, gRPC health, metrics, background loops.

Background loops (endpoint source, engine-metric scrapes, probes of ejected endpoints) are
supervised: one that dies is logged, restarted with backoff, and readiness reports NOT_SERVING
until it runs again, so a broken watch never hides behind a green probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
import grpc
from aiohttp import web
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heteropool.epp.picker import EndpointPicker
from heteropool.epp.scraper import probe_loop, scrape_loop
from heteropool.epp.service import ExternalProcessor
from heteropool.epp.sources import EndpointSource, FileEndpointSource
from heteropool.routing import ObjectivesRouting
from heteropool.scheduling.endpoints import EndpointPool
from heteropool.scheduling.waiting import DEFAULT_MAX_LENGTH, DEFAULT_MAX_WAIT_S

__all__ = ["EppSettings", "serve", "HEALTH_SERVICES"]

log = logging.getLogger(__name__)

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
HEALTH_SERVICES = ("liveness", "readiness", EXT_PROC_SERVICE)


@dataclass(frozen=True, slots=True)
class EppSettings:
    """Settings of one EPP process (built and validated by the CLI)."""

    host: str = "127.0.0.1"
    port: int = 9002
    metrics_port: int | None = None
    policy: str = "heteropool"
    parameters: Mapping[str, object] = field(default_factory=dict)
    seed: int = 0
    fallbacks: int = 2
    api_key: str | None = None
    default_body_mode: int = pm.ProcessingMode.BUFFERED
    endpoints_file: str | None = None
    reload_interval_s: float = 0.5
    scrape_interval_s: float = 0.25
    probe_interval_s: float = 1.0
    eject_after_failures: int = 3
    eject_s: float = 10.0
    max_in_flight_per_endpoint: int = 1024
    tls_cert: bytes | None = None
    tls_key: bytes | None = None
    health_port: int | None = None
    kube_api_url: str | None = None
    kube_namespace: str | None = None
    kube_pool: str | None = None
    kube_configmap: str | None = None
    lease_name: str | None = None  # several replicas: only the holder of this Lease reports ready
    kube_objectives_pool: str | None = None  # Gateway mode: watch this InferencePool's InferenceObjectives
    objectives: ObjectivesRouting | None = None
    max_wait_s: float = DEFAULT_MAX_WAIT_S
    max_waiting: int = DEFAULT_MAX_LENGTH
    identity: str = "heteropool-epp"


class _Supervisor:
    """Runs background loops forever; tracks which are down (for readiness)."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        self.tasks.append(asyncio.create_task(self._run(name, factory), name=name))

    async def _run(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        backoff = 0.5
        while True:
            started = time.monotonic()
            try:
                await factory()
                log.error("background loop %s returned; restarting", name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop %s failed; restarting in %.1f s", name, backoff)
            self.down.add(name)
            if time.monotonic() - started > 30:
                backoff = 0.5
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            self.down.discard(name)

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


async def serve(
    settings: EppSettings,
    *,
    source: EndpointSource | None = None,
    started: Callable[[str, int], None] | None = None,
) -> None:
    """Run the EPP until cancelled. Calls started(host, grpc_port) once it listens."""
    pool = EndpointPool(
        clock=time.monotonic,
        eject_after_failures=settings.eject_after_failures,
        eject_s=settings.eject_s,
        max_in_flight=settings.max_in_flight_per_endpoint,
    )
    picker = EndpointPicker(
        pool,
        policy=settings.policy,
        parameters=settings.parameters,
        seed=settings.seed,
        fallbacks=settings.fallbacks,
        api_key=settings.api_key,
        objectives=settings.objectives,
        max_wait_s=settings.max_wait_s,
        max_waiting=settings.max_waiting,
    )
    if source is None and settings.endpoints_file:
        file_source = FileEndpointSource(settings.endpoints_file, settings.reload_interval_s)
        picker.apply_endpoints(file_source.load())
        source = file_source
    elif source is None and settings.kube_api_url and settings.kube_namespace and settings.kube_pool:
        from heteropool.epp.discovery import InClusterCredentials, KubeEndpointSource

        source = KubeEndpointSource(
            InClusterCredentials(settings.kube_api_url),
            settings.kube_namespace,
            settings.kube_pool,
            settings.kube_configmap,
            on_config=picker.apply_routing_config,
        )
    health = HealthServicer()
    supervisor = _Supervisor()
    elector = None
    if settings.lease_name and settings.kube_api_url and settings.kube_namespace:
        from heteropool.epp.discovery import InClusterCredentials
        from heteropool.epp.lease import LeaseElector

        elector = LeaseElector(
            InClusterCredentials(settings.kube_api_url), settings.kube_namespace, settings.lease_name, settings.identity
        )
    leading = (lambda: elector.is_leader) if elector is not None else (lambda: True)

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024), ("grpc.so_reuseport", 0)])
    ep_grpc.add_ExternalProcessorServicer_to_server(
        ExternalProcessor(picker, default_body_mode=settings.default_body_mode), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    address = f"{settings.host}:{settings.port}"
    if settings.tls_cert and settings.tls_key:
        port = server.add_secure_port(address, grpc.ssl_server_credentials([(settings.tls_key, settings.tls_cert)]))
    else:
        port = server.add_insecure_port(address)
    health_server = None
    if settings.health_port is not None:
        health_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(health, health_server)
        health_server.add_insecure_port(f"{settings.host}:{settings.health_port}")
    await health.set("liveness", health_pb2.HealthCheckResponse.SERVING)
    await _publish_health(health, picker, supervisor, leading)
    await server.start()
    if health_server is not None:
        await health_server.start()

    runner: web.AppRunner | None = None
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False) as session:
        if source is not None:

            async def watch() -> None:
                await source.run(picker.apply_endpoints)

            supervisor.start("endpoints", watch)
        if settings.scrape_interval_s > 0:
            supervisor.start("scrape", lambda: scrape_loop(session, pool, settings.scrape_interval_s))
        supervisor.start("probe", lambda: probe_loop(session, pool, settings.probe_interval_s))
        if elector is not None:
            supervisor.start("lease", lambda: elector.run(session))
        if settings.kube_objectives_pool and settings.kube_api_url and settings.kube_namespace:
            from heteropool.epp.discovery import InClusterCredentials
            from heteropool.epp.objectives import ObjectiveWatch

            objectives = ObjectiveWatch(
                InClusterCredentials(settings.kube_api_url),
                settings.kube_namespace,
                settings.kube_objectives_pool,
                picker.apply_cluster_objectives,
            )
            supervisor.start("objectives", lambda: objectives.run(session))
        supervisor.start("health", lambda: _health_loop(health, picker, supervisor, leading))
        if settings.metrics_port is not None:
            runner = await _start_metrics(settings, picker, supervisor, leading)
        if started is not None:
            started(settings.host, port)
        try:
            await server.wait_for_termination()
        finally:
            await health.enter_graceful_shutdown()
            await server.stop(grace=2.0)
            if health_server is not None:
                await health_server.stop(grace=None)
            await supervisor.stop()
            if runner is not None:
                await runner.cleanup()


Leading = Callable[[], bool]


def _ready(picker: EndpointPicker, supervisor: _Supervisor, leading: Leading) -> bool:
    return picker.ready() and not supervisor.down and leading()


async def _publish_health(
    health: HealthServicer, picker: EndpointPicker, supervisor: _Supervisor, leading: Leading
) -> None:
    ready = _ready(picker, supervisor, leading)
    status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
    for service in ("readiness", EXT_PROC_SERVICE, ""):
        await health.set(service, status)


async def _health_loop(
    health: HealthServicer, picker: EndpointPicker, supervisor: _Supervisor, leading: Leading
) -> None:
    """Readiness follows the endpoint set and the lease (ejections expire on their own, so poll)."""
    while True:
        await _publish_health(health, picker, supervisor, leading)
        await asyncio.sleep(0.5)


async def _start_metrics(
    settings: EppSettings, picker: EndpointPicker, supervisor: _Supervisor, leading: Leading
) -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(picker.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if _ready(picker, supervisor, leading):
            return web.Response(text="ready")
        why = (
            f"loops down: {', '.join(sorted(supervisor.down))}"
            if supervisor.down
            else "standing by: another replica holds the lease"
            if not leading()
            else "no ready endpoint"
        )
        return web.Response(status=503, text=why)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.metrics_port).start()
    return runner
