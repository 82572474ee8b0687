"""`heteropool operator`: run the operator (namespaced or cluster-wide) with metrics and liveness."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heteropool.settings import RenderSettings

__all__ = ["add_arguments", "add_platform_arguments", "run", "render_settings"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable); default: all"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: in-cluster, else ~/.kube/config)")
    parser.add_argument("--standalone", action="store_true", help="run without peering (exactly one replica must run)")
    parser.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics port (0: off)")
    parser.add_argument("--liveness-port", type=int, default=8080, help="/healthz port for the liveness probe (0: off)")
    parser.add_argument("--bind", default="0.0.0.0", help="address of the metrics and liveness endpoints")
    parser.add_argument(
        "--log-format", choices=["json", "text"], default="json", help="log format (json in containers)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_platform_arguments(parser)


def add_platform_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the cluster-wide rendering settings (shared by `operator` and `render`)."""
    platform = parser.add_argument_group("platform settings (the same for every pool; docs/platform.md)")
    platform.add_argument(
        "--image-registry",
        default=None,
        metavar="HOST[/PATH]",
        help="pull every default image from this registry (a mirror) instead of its own",
    )
    platform.add_argument(
        "--image",
        action="append",
        default=[],
        type=_image_override,
        metavar="COMPONENT=IMAGE",
        help="image of a component instead of the built-in default (repeatable); components: "
        "nvidia, amd, intel-gaudi (vLLM), heteropool (picker and sim pods), envoy (data plane)",
    )
    platform.add_argument(
        "--no-fixed-uid",
        dest="fixed_uid",
        action="store_false",
        help="leave the UID of heteropool's own pods to the platform (OpenShift restricted-v2) instead of 65532",
    )
    platform.add_argument(
        "--operator-namespace",
        default=os.environ.get("POD_NAMESPACE", "heteropool-system"),
        help="namespace the operator runs in; vLLM NetworkPolicies admit its scrapes "
        "(default: $POD_NAMESPACE, else heteropool-system)",
    )
    platform.add_argument(
        "--monitoring-namespace",
        action="append",
        default=None,
        metavar="NAMESPACE",
        help="namespace whose pods may scrape vLLM pods, unless a pool names its own (repeatable; default: monitoring)",
    )
    platform.add_argument(
        "--keda-prometheus-url",
        default=None,
        metavar="URL",
        help="KEDA is installed and queries this Prometheus: autoscaled groups get a ScaledObject instead of an HPA",
    )


def _image_override(text: str) -> tuple[str, str]:
    from heteropool.settings import parse_image_override

    try:
        return parse_image_override(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def render_settings(args: argparse.Namespace) -> RenderSettings:
    """The platform settings the command line gives."""
    from types import MappingProxyType

    from heteropool.settings import RenderSettings

    return RenderSettings(
        image_registry=args.image_registry,
        images=MappingProxyType(dict(args.image)),
        fixed_uid=args.fixed_uid,
        operator_namespace=args.operator_namespace,
        monitoring_namespaces=tuple(args.monitoring_namespace or ("monitoring",)),
        keda_prometheus_url=args.keda_prometheus_url,
    )


def run(args: argparse.Namespace) -> int:
    from heteropool.ports import bind_problem

    for flag, port in (("--metrics-port", args.metrics_port), ("--liveness-port", args.liveness_port)):
        problem = bind_problem(args.bind, port) if port else None
        if problem is not None:
            print(f"heteropool operator: {flag}: {problem}", file=sys.stderr)
            return 2
    import kopf
    from prometheus_client import start_http_server

    from heteropool.handlers import FIELD_MANAGER, OperatorContext, build_registry, make_memo
    from heteropool.handlers.kube import connect, login

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL,
    )
    if not args.verbose:  # one INFO line per meaningful action: every API call and handler run at DEBUG
        for noisy in ("httpx", "httpcore", "kopf.objects", "kopf.activities"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    in_cluster = args.kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # where kopf's kubeconfig login looks

    def credentials() -> kopf.ConnectionInfo:
        return login(in_cluster=in_cluster)

    context = OperatorContext(kube=connect(credentials, field_manager=FIELD_MANAGER), settings=render_settings(args))
    if args.metrics_port:
        start_http_server(args.metrics_port, addr=args.bind, registry=context.metrics.registry)
    logging.getLogger(__name__).info(
        "starting heteropool operator: %s",
        "namespaces " + ", ".join(args.namespace) if args.namespace else "cluster-wide",
    )
    run_loop: Callable[[Coroutine[Any, Any, None]], None]
    try:
        import uvloop

        run_loop = uvloop.run
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
