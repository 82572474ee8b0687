"""`heteropool operator`: run the operator (namespaced or cluster-wide) with metrics and liveness."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable); default: all"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: in-cluster, else ~/.kube/config)")
    parser.add_argument(
        "--standalone", action="store_true", help="run without peering (exactly one replica must run)"
    )
    parser.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics port (0: off)")
    parser.add_argument("--liveness-port", type=int, default=8080, help="/healthz port for the liveness probe (0: off)")
    parser.add_argument("--bind", default="0.0.0.0", help="address of the metrics and liveness endpoints")
    parser.add_argument("--log-format", choices=["json", "text"], default="json", help="log format (json in containers)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run(args: argparse.Namespace) -> int:
    import kopf
    from prometheus_client import start_http_server

    from heteropool.handlers import FIELD_MANAGER, OperatorContext, build_registry, make_memo
    from heteropool.kube import connect, load_credentials

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    in_cluster = args.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG")
    credentials = load_credentials(kubeconfig, in_cluster=in_cluster)
    context = OperatorContext(kube=connect(credentials, field_manager=FIELD_MANAGER))
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.bind, registry=context.metrics.registry)
    logging.getLogger(__name__).info(
        "starting heteropool operator: %s", "namespaces " + ", ".join(args.namespace) if args.namespace else "cluster-wide"
    )
    try:
        from uvloop import run as run_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        run_loop = asyncio.run
    run_loop(
        kopf.operator(
            registry=build_registry(),
            memo=make_memo(context, credentials),
            standalone=args.standalone,
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            liveness_endpoint=f"http://{args.bind}:{args.liveness_port}/healthz" if args.liveness_port else None,
        )
    )
    return 0
