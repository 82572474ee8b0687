"""`heteropool epp`: run the Endpoint Picker (ext_proc gRPC server) for an Envoy data plane."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from heteropool.names import DEFAULT_POLICY, POLICY_NAMES
from heteropool.routing import ObjectivesRouting, RoutingConfigError
from heteropool.scheduling.waiting import DEFAULT_MAX_LENGTH, DEFAULT_MAX_WAIT_S
from heteropool.validation import first_problem

__all__ = ["add_arguments", "run"]

_API_KEY_ENV = "HETEROPOOL_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="gRPC listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9002, help="gRPC (ext_proc + health) port (default 9002)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics, /healthz and /readyz over HTTP on this port (default: off)",
    )
    parser.add_argument(
        "--endpoints",
        metavar="FILE",
        help="endpoint file (YAML/JSON list of {url, group, ...}), re-read when it changes",
    )
    parser.add_argument(
        "--kube-pool",
        default=None,
        help="in a cluster: discover endpoints from this pool's EndpointSlices (in-cluster credentials)",
    )
    parser.add_argument("--kube-namespace", default=None, help="namespace of the pool (default: the pod's own)")
    parser.add_argument(
        "--kube-configmap",
        default=None,
        help="routing ConfigMap to watch (routing.yaml: policy, parameters, capacities, shares)",
    )
    parser.add_argument(
        "--lease",
        metavar="NAME",
        default=None,
        help="with --kube-pool and several replicas: only the holder of this Lease reports ready "
        "(the others stand by and take over when it stops renewing)",
    )
    parser.add_argument(
        "--policy", default=DEFAULT_POLICY, choices=POLICY_NAMES, help=f"routing policy (default {DEFAULT_POLICY})"
    )
    parser.add_argument(
        "--parameters",
        metavar="YAML",
        help='policy parameter overrides as YAML/JSON, or @FILE (e.g. \'{"capacity-load-scorer": '
        "{\"spillAbs\": 32}}'); the routing ConfigMap's parameters replace them in a cluster",
    )
    parser.add_argument(
        "--objectives",
        metavar="YAML",
        default=None,
        help="request priorities by objective (the x-gateway-inference-objective header), YAML/JSON "
        "or @FILE: {defaultPriority: 0, priorities: {chat: 10, batch: -1}}; the routing "
        "ConfigMap's objectives replace them in a cluster",
    )
    parser.add_argument(
        "--kube-objectives",
        metavar="INFERENCEPOOL",
        default=None,
        help="also watch the namespace's InferenceObjectives (inference.networking.x-k8s.io/v1alpha2) "
        "of this InferencePool; they win over the routing ConfigMap's objectives",
    )
    parser.add_argument(
        "--max-wait-s",
        type=float,
        default=DEFAULT_MAX_WAIT_S,
        help="how long a request no endpoint can take waits in the picker before a 429 "
        f"(default {DEFAULT_MAX_WAIT_S:g}; keep it below the data plane's ext_proc message timeout)",
    )
    parser.add_argument(
        "--max-waiting",
        type=int,
        default=DEFAULT_MAX_LENGTH,
        help=f"how many requests may wait at once (default {DEFAULT_MAX_LENGTH})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the picker's tie-break RNG")
    parser.add_argument(
        "--fallbacks",
        type=int,
        default=2,
        help="extra endpoints after the pick, tried in order by the data plane on retry (default 2)",
    )
    parser.add_argument(
        "--default-body-mode",
        default="BUFFERED",
        choices=("BUFFERED", "FULL_DUPLEX_STREAMED"),
        help="request body mode assumed when the data plane does not announce one",
    )
    parser.add_argument(
        "--api-key-file",
        metavar="FILE",
        default=None,
        help=f"require 'Authorization: Bearer KEY' with KEY read from FILE (or env {_API_KEY_ENV})",
    )
    parser.add_argument("--scrape-interval-s", type=float, default=0.25, help="vLLM /metrics scrape period (0 = off)")
    parser.add_argument("--probe-interval-s", type=float, default=1.0, help="health probe period of ejected endpoints")
    parser.add_argument(
        "--eject-s", type=float, default=10.0, help="how long an endpoint is skipped after repeated 5xx"
    )
    parser.add_argument("--reload-interval-s", type=float, default=0.5, help="how often the endpoint file is checked")
    parser.add_argument(
        "--tls-cert", metavar="FILE", default=None, help="serve gRPC over TLS with this certificate (PEM)"
    )
    parser.add_argument("--tls-key", metavar="FILE", default=None, help="private key (PEM) of --tls-cert")
    parser.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="serve gRPC over TLS with a certificate made at start-up (gateways that expect TLS "
        "on the picker do not verify it)",
    )
    parser.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="also serve gRPC health in plaintext on this port (kubelet gRPC probes speak no TLS)",
    )
    parser.add_argument("--log-level", default="INFO", help="log level (default INFO)")
    parser.add_argument("--log-format", default="json", choices=("json", "text"), help="log format (default json)")


def _fail(message: str) -> int:
    print(f"heteropool epp: {message}", file=sys.stderr)
    return 2


def _yaml_option(raw: str, flag: str) -> Any:
    """The value of an option given as YAML/JSON inline or as @FILE."""
    import yaml

    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{flag}: not valid YAML or JSON: {exc}") from None


def _parameters(raw: str | None) -> dict[str, object]:
    if not raw:
        return {}
    data = _yaml_option(raw, "--parameters")
    if not isinstance(data, dict):
        raise ValueError(f"--parameters: expected a mapping, got {type(data).__name__}")
    return data


def _objectives(raw: str | None) -> ObjectivesRouting | None:
    from pydantic import ValidationError

    if not raw:
        return None
    data = _yaml_option(raw, "--objectives")
    try:
        return ObjectivesRouting.model_validate(data)
    except ValidationError as exc:
        where, problem = first_problem(exc, "--objectives")
        raise ValueError(f"{where}: {problem}") from None


def run(args: argparse.Namespace) -> int:
    from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm

    from heteropool.epp.server import EppSettings, serve
    from heteropool.logs import configure_logging
    from heteropool.scheduling.errors import ConfigError

    try:
        configure_logging(args.log_level, args.log_format)
    except ValueError as exc:
        return _fail(str(exc))
    if bool(args.endpoints) == bool(args.kube_pool):
        return _fail("give exactly one endpoint source: --endpoints FILE, or --kube-pool NAME in a cluster")
    kube_api_url, namespace = None, args.kube_namespace
    if args.kube_pool:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            return _fail("--kube-pool needs in-cluster credentials (KUBERNETES_SERVICE_HOST is not set)")
        kube_api_url = f"https://{host}:{port}"
        if namespace is None:
            ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
            namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
    if not args.max_wait_s >= 0 or args.max_waiting < 0:
        return _fail(f"--max-wait-s and --max-waiting: must be >= 0, got {args.max_wait_s:g} and {args.max_waiting}")
    if args.kube_objectives and not args.kube_pool:
        return _fail("--kube-objectives needs --kube-pool (InferenceObjectives live in the pool's namespace)")
    if args.fallbacks < 0:
        return _fail(f"--fallbacks: must be >= 0, got {args.fallbacks}")
    if args.lease and not args.kube_pool:
        return _fail("--lease needs --kube-pool (the Lease lives in the pool's namespace)")
    if bool(args.tls_cert) != bool(args.tls_key):
        return _fail("--tls-cert and --tls-key go together")
    if args.tls_self_signed and args.tls_cert:
        return _fail("--tls-self-signed and --tls-cert exclude each other")
    try:
        parameters = _parameters(args.parameters)
        objectives = _objectives(args.objectives)
        api_key = Path(args.api_key_file).read_text().strip() if args.api_key_file else os.environ.get(_API_KEY_ENV)
        tls_cert = Path(args.tls_cert).read_bytes() if args.tls_cert else None
        tls_key = Path(args.tls_key).read_bytes() if args.tls_key else None
        if args.tls_self_signed:
            from heteropool.epp.tls import self_signed

            tls_cert, tls_key = self_signed()
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    settings = EppSettings(
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        policy=args.policy,
        parameters=parameters,
        seed=args.seed,
        fallbacks=args.fallbacks,
        api_key=api_key or None,
        default_body_mode=pm.ProcessingMode.BodySendMode.Value(args.default_body_mode),
        endpoints_file=args.endpoints,
        reload_interval_s=args.reload_interval_s,
        scrape_interval_s=args.scrape_interval_s,
        probe_interval_s=args.probe_interval_s,
        eject_s=args.eject_s,
        tls_cert=tls_cert,
        tls_key=tls_key,
        health_port=args.health_port,
        kube_api_url=kube_api_url,
        kube_namespace=namespace,
        kube_pool=args.kube_pool,
        kube_configmap=args.kube_configmap,
        lease_name=args.lease,
        kube_objectives_pool=args.kube_objectives,
        objectives=objectives,
        max_wait_s=args.max_wait_s,
        max_waiting=args.max_waiting,
        identity=os.environ.get("POD_NAME") or socket.gethostname(),
    )

    def started(host: str, port: int) -> None:
        print(json.dumps({"event": "listening", "grpc": f"{host}:{port}", "metrics": args.metrics_port}), flush=True)

    runner: Callable[[Coroutine[Any, Any, None]], None]
    try:
        import uvloop  # ~1.4x the requests per second of the default loop behind Envoy (bench/dataplane.py)

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    try:
        runner(serve(settings, started=started))
    except (ConfigError, RoutingConfigError, OSError) as exc:
        return _fail(str(exc))
    except RuntimeError:  # grpc: "Failed to bind to address ..."
        return _fail(f"--port: {args.host}:{args.port} is already in use")
    except KeyboardInterrupt:
        return 0
    return 0
