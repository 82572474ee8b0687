"""`heteropool gateway`: run the routing gateway (OpenAI-compatible reverse proxy)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from heteropool.routing import POLICY_NAMES, RoutingConfigError

__all__ = ["add_arguments", "run"]

_API_KEY_ENV = "HETEROPOOL_GATEWAY_API_KEY"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (0 = any free port)")
    parser.add_argument("--endpoints", metavar="FILE", help="endpoint file (YAML/JSON list of {url, vendor, ...})")
    parser.add_argument("--policy", default="heteropool", choices=POLICY_NAMES, help="routing policy")
    parser.add_argument(
        "--parameters", metavar="YAML", help="policy parameter overrides as YAML/JSON, or @FILE"
    )
    parser.add_argument("--seed", type=int, default=0, help="tie-break RNG seed")
    parser.add_argument("--max-retries", type=int, default=2, help="other endpoints tried after a connect error or 5xx (default 2)")
    parser.add_argument("--connect-timeout-s", type=float, default=3.0, help="seconds to connect to an endpoint (default 3)")
    parser.add_argument("--read-timeout-s", type=float, default=600.0,
                        help="seconds an endpoint may stay silent mid-response before a 504 (default 600)")
    parser.add_argument("--request-timeout-s", type=float, default=None,
                        help="overall seconds per request (default: none, streams may be long)")
    parser.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024,
                        help="largest request body accepted, larger ones get 413 (default 8 MiB)")
    parser.add_argument("--max-in-flight-per-endpoint", type=int, default=1024,
                        help="requests in flight per endpoint before the pool answers 429 (default 1024)")
    parser.add_argument("--eject-s", type=float, default=10.0, help="how long an endpoint is skipped after it fails (default 10)")
    parser.add_argument("--probe-interval-s", type=float, default=1.0, help="health probe period of ejected endpoints (default 1)")
    parser.add_argument("--scrape-interval-s", type=float, default=0.25, help="vLLM /metrics scrape period (0 = off)")
    parser.add_argument("--reload-interval-s", type=float, default=0.5, help="how often the endpoint file is checked (default 0.5)")
    parser.add_argument(
        "--api-key-file", metavar="FILE", default=None,
        help=f"require 'Authorization: Bearer KEY' with KEY read from FILE (or env {_API_KEY_ENV}); "
        "never on the command line, where `ps` shows it",
    )
    parser.add_argument("--kube-pool", default=None, help="discover endpoints from this pool's EndpointSlices")
    parser.add_argument("--kube-namespace", default=None, help="namespace (default: the pod's own)")
    parser.add_argument("--kube-configmap", default=None, help="routing ConfigMap to watch (routing.yaml)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")


def _api_key(path: str | None) -> str | None:
    """The bearer token clients must send: from a file (a mounted Secret) or the environment."""
    key = Path(path).read_text().strip() if path else os.environ.get(_API_KEY_ENV, "")
    return key or None


def _parameters(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    text = open(raw[1:]).read() if raw.startswith("@") else raw
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"--parameters: expected a mapping, got {type(data).__name__}")
    return data


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from heteropool.gateway.errors import ConfigError
    from heteropool.gateway.server import serve
    from heteropool.gateway.settings import GatewaySettings

    kube_api_url = None
    namespace = args.kube_namespace
    if args.kube_pool:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            print("heteropool gateway: --kube-pool needs in-cluster credentials (KUBERNETES_SERVICE_HOST)", file=sys.stderr)
            return 2
        kube_api_url = f"https://{host}:{port}"
        if namespace is None:
            ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
            namespace = open(ns_file).read().strip() if os.path.exists(ns_file) else "default"
    try:
        settings = GatewaySettings(
            host=args.host,
            port=args.port,
            endpoints_file=args.endpoints,
            policy=args.policy,
            parameters=_parameters(args.parameters),
            seed=args.seed,
            max_retries=args.max_retries,
            connect_timeout_s=args.connect_timeout_s,
            read_timeout_s=args.read_timeout_s,
            request_timeout_s=args.request_timeout_s,
            max_body_bytes=args.max_body_bytes,
            max_in_flight_per_endpoint=args.max_in_flight_per_endpoint,
            eject_s=args.eject_s,
            probe_interval_s=args.probe_interval_s,
            scrape_interval_s=args.scrape_interval_s,
            reload_interval_s=args.reload_interval_s,
            api_key=_api_key(args.api_key_file),
            kube_api_url=kube_api_url,
            kube_namespace=namespace,
            kube_pool=args.kube_pool,
            kube_configmap=args.kube_configmap,
        )
    except (ValidationError, ValueError, OSError, yaml.YAMLError) as exc:
        print(f"heteropool gateway: {exc}", file=sys.stderr)
        return 2

    from heteropool.ports import bind_problem

    problem = bind_problem(settings.host, settings.port)
    if problem is not None:
        print(f"heteropool gateway: --port: {problem}", file=sys.stderr)
        return 2

    def started(host: str, port: int) -> None:
        print(json.dumps({"event": "listening", "url": f"http://{host}:{port}"}), flush=True)

    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.run
    try:
        runner(serve(settings, started=started))
    except (ConfigError, RoutingConfigError, OSError) as exc:
        print(f"heteropool gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0
