"""Envoy's bootstrap for a heteropool data plane: one listener, ext_proc to the EPP, one pool cluster.

Pure: `envoy_bootstrap(DataPlaneConfig)` returns the bootstrap document (a dict, dumped as YAML
or JSON). `heteropool up`, the tests and the operator (standalone mode, as a ConfigMap) all
render it here, so what runs locally is what runs in a cluster.

The shape (docs/endpoint-picker.md explains each choice):
- ext_proc asks the EPP for every request; `failure_mode_allow` is the pool's failure mode
  (FailOpen: Envoy routes on its own when the EPP is unreachable; FailClose: 503-class error);
- the pool cluster holds every vLLM replica (static addresses locally, the pool's headless
  Service via DNS in a cluster) and uses the override-host load-balancing policy: the EPP's
  ordered `ip:port` list is tried in order, retries included, and least-request is the fallback;
- retries on connect failure, reset, refused stream and 5xx, each try bounded, never to a host
  already tried; outlier detection ejects failing replicas, at most half of them at once;
- timeouts for headers, idle connections and idle streams; body size limit sized for long prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["DataPlaneConfig", "envoy_bootstrap", "BODY_MODES"]

BODY_MODES = ("BUFFERED", "FULL_DUPLEX_STREAMED")
_EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_OVERRIDE_HOST = "type.googleapis.com/envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost"
_LEAST_REQUEST = "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest"
_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_HEADER_TO_METADATA = "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config"
_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
_PREVIOUS_HOSTS = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
_DOWNSTREAM_CONNECTIONS = (
    "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"
)
_PREVIOUS_HOSTS = "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
_DOWNSTREAM_CONNECTIONS = (
    "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"
)


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class DataPlaneConfig:
    """What the data plane needs to know; every field has the default a cluster runs with.

    `endpoints`: `(host, port)` of every replica; a host that is not an IP address is resolved by
    DNS (all its addresses become replicas: the headless Service in a cluster).
    """

    endpoints: Sequence[tuple[str, int]]
    epp_host: str
    epp_port: int
    listen_host: str = "0.0.0.0"  # noqa: S104 - the data plane serves the pool's clients
    listen_port: int = 8080
    admin_port: int = 19000
    # A listener that exposes only Envoy's /ready and /stats/prometheus (the admin stays on localhost).
    stats_port: int | None = None
    epp_tls: bool = False
    request_body_mode: Literal["BUFFERED", "FULL_DUPLEX_STREAMED"] = "BUFFERED"
    response_headers: bool = True
    fail_open: bool = False
    message_timeout_s: float = 5.0
    max_request_bytes: int = 8 * 1024 * 1024
    retries: int = 5
    retry_budget_percent: float = 25.0
    connect_timeout_s: float = 2.0
    per_try_idle_timeout_s: float = 300.0
    request_headers_timeout_s: float = 10.0
    stream_idle_timeout_s: float = 300.0
    connection_idle_timeout_s: float = 60.0
    eject_after_5xx: int = 5
    eject_after_local_failures: int = 2
    ejection_s: float = 10.0
    max_ejection_percent: int = 50
    panic_threshold_percent: float = 50.0
    dns_refresh_s: float = 2.0
    # A request header whose comma-separated `ip:port` list becomes the subset hint (off unless set:
    # it lets a client choose replicas, so it is for conformance-style tests, not production).
    subset_hint_header: str | None = None
    extra_response_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.request_body_mode not in BODY_MODES:
            raise ValueError(
                f"request_body_mode: expected one of {', '.join(BODY_MODES)}, got {self.request_body_mode!r}"
            )
        if not self.endpoints:
            raise ValueError("endpoints: at least one replica address is needed")


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return (len(parts) == 4 and all(p.isdigit() for p in parts)) or ":" in host


def _ext_proc(c: DataPlaneConfig) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.ext_proc",
        "typed_config": {
            "@type": _EXT_PROC,
            "grpc_service": {
                "envoy_grpc": {"cluster_name": "heteropool-epp"},
                "timeout": _duration(c.message_timeout_s),
            },
            "failure_mode_allow": c.fail_open,
            "message_timeout": _duration(c.message_timeout_s),
            "processing_mode": {
                "request_header_mode": "SEND",
                "request_body_mode": c.request_body_mode,
                "request_trailer_mode": "SEND" if c.request_body_mode == "FULL_DUPLEX_STREAMED" else "SKIP",
                "response_header_mode": "SEND" if c.response_headers else "SKIP",
                "response_body_mode": "NONE",
                # keeps the stream open to the end of the response (the completion signal), no per-chunk work
                "response_trailer_mode": "SEND",
            },
            "metadata_options": {"forwarding_namespaces": {"untyped": ["envoy.lb.subset_hint", "envoy.lb"]}},
            "response_attributes": ["upstream.address"],
        },
    }


def _filters(c: DataPlaneConfig) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if c.subset_hint_header:
        filters.append(
            {
                "name": "envoy.filters.http.header_to_metadata",
                "typed_config": {
                    "@type": _HEADER_TO_METADATA,
                    "request_rules": [
                        {
                            "header": c.subset_hint_header,
                            "on_header_present": {
                                "metadata_namespace": "envoy.lb.subset_hint",
                                "key": "x-gateway-destination-endpoint-subset",
                                "type": "STRING",
                            },
                            "remove": True,
                        }
                    ],
                },
            }
        )
    filters.append(_ext_proc(c))
    filters.append({"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}})
    return filters


def _route(c: DataPlaneConfig) -> dict[str, Any]:
    response_headers = {"x-heteropool-endpoint": "%UPSTREAM_HOST%", **c.extra_response_headers}
    return {
        "name": "pool",
        "virtual_hosts": [
            {
                "name": "pool",
                "domains": ["*"],
                "routes": [
                    {
                        "match": {"prefix": "/"},
                        "route": {
                            "cluster": "pool",
                            "timeout": "0s",  # streams last minutes; idle timeouts bound a stuck one
                            "retry_policy": {
                                "retry_on": "connect-failure,refused-stream,reset,5xx",
                                "num_retries": c.retries,
                                "per_try_idle_timeout": _duration(c.per_try_idle_timeout_s),
                                "retry_host_predicate": [
                                    {
                                        "name": "envoy.retry_host_predicates.previous_hosts",
                                        "typed_config": {"@type": _PREVIOUS_HOSTS},
                                    }
                                ],
                                "host_selection_retry_max_attempts": 5,
                            },
                        },
                        "response_headers_to_add": [
                            {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                            for k, v in response_headers.items()
                        ],
                    }
                ],
            }
        ],
    }


def _pool_cluster(c: DataPlaneConfig) -> dict[str, Any]:
    dns = any(not _is_ip(h) for h, _ in c.endpoints)
    cluster: dict[str, Any] = {
        "name": "pool",
        "type": "STRICT_DNS" if dns else "STATIC",
        "connect_timeout": _duration(c.connect_timeout_s),
        "load_assignment": {
            "cluster_name": "pool",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": h, "port_value": p}}}}
                        for h, p in c.endpoints
                    ]
                }
            ],
        },
        "load_balancing_policy": {
            "policies": [
                {
                    "typed_extension_config": {
                        "name": "envoy.load_balancing_policies.override_host",
                        "typed_config": {
                            "@type": _OVERRIDE_HOST,
                            "override_host_sources": [
                                {"metadata": {"key": "envoy.lb", "path": [{"key": "x-gateway-destination-endpoint"}]}},
                                {"header": "x-gateway-destination-endpoint"},
                            ],
                            "fallback_policy": {
                                "policies": [
                                    {
                                        "typed_extension_config": {
                                            "name": "envoy.load_balancing_policies.least_request",
                                            "typed_config": {"@type": _LEAST_REQUEST},
                                        }
                                    }
                                ]
                            },
                        },
                    }
                }
            ]
        },
        "common_lb_config": {"healthy_panic_threshold": {"value": c.panic_threshold_percent}},
        "outlier_detection": {
            "consecutive_5xx": c.eject_after_5xx,
            "split_external_local_origin_errors": True,
            "consecutive_local_origin_failure": c.eject_after_local_failures,
            "interval": "1s",
            "base_ejection_time": _duration(c.ejection_s),
            "max_ejection_time": _duration(c.ejection_s * 30),
            "max_ejection_percent": c.max_ejection_percent,
        },
        # retries are bounded by a budget (a share of the active requests), so a pool that fails
        # because it is overloaded is not hit by a retry storm
        "circuit_breakers": {
            "thresholds": [
                {
                    "max_connections": 100000,
                    "max_pending_requests": 100000,
                    "max_requests": 100000,
                    "retry_budget": {"budget_percent": {"value": c.retry_budget_percent}, "min_retry_concurrency": 8},
                }
            ]
        },
    }
    if dns:
        cluster["dns_refresh_rate"] = _duration(c.dns_refresh_s)
        cluster["respect_dns_ttl"] = False
    return cluster


def _epp_cluster(c: DataPlaneConfig) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": "heteropool-epp",
        "type": "STATIC" if _is_ip(c.epp_host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": "heteropool-epp",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": c.epp_host, "port_value": c.epp_port}}}}
                    ]
                }
            ],
        },
        "circuit_breakers": {
            "thresholds": [{"max_connections": 100000, "max_pending_requests": 100000, "max_requests": 100000}]
        },
    }
    if c.epp_tls:
        # The EPP's certificate is self-signed by default (as GIE's EPP): encrypted, not verified.
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": {"@type": _TLS}}
    return cluster


def _stats_listener(c: DataPlaneConfig, port: int) -> dict[str, Any]:
    routes = [
        {"match": {"path": path}, "route": {"cluster": "envoy-admin"}} for path in ("/ready", "/stats/prometheus")
    ]
    return {
        "name": "stats",
        "address": {"socket_address": {"address": c.listen_host, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": _HCM,
                            "stat_prefix": "stats",
                            "route_config": {"virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": routes}]},
                            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
                        },
                    }
                ]
            }
        ],
    }


def _admin_cluster(c: DataPlaneConfig) -> dict[str, Any]:
    return {
        "name": "envoy-admin",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "envoy-admin",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": "127.0.0.1", "port_value": c.admin_port}}
                            }
                        }
                    ]
                }
            ],
        },
    }


def envoy_bootstrap(c: DataPlaneConfig) -> dict[str, Any]:
    """The whole Envoy bootstrap for one pool's data plane."""
    doc: dict[str, Any] = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": c.admin_port}}},
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": _DOWNSTREAM_CONNECTIONS,
                        "max_active_downstream_connections": 50000,
                    },
                }
            ]
        },
        "static_resources": {
            "listeners": [
                {
                    "name": "pool",
                    "address": {"socket_address": {"address": c.listen_host, "port_value": c.listen_port}},
                    "per_connection_buffer_limit_bytes": c.max_request_bytes,
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": _HCM,
                                        "stat_prefix": "pool",
                                        "codec_type": "AUTO",
                                        "request_headers_timeout": _duration(c.request_headers_timeout_s),
                                        "stream_idle_timeout": _duration(c.stream_idle_timeout_s),
                                        "common_http_protocol_options": {
                                            "idle_timeout": _duration(c.connection_idle_timeout_s)
                                        },
                                        "route_config": _route(c),
                                        "http_filters": _filters(c),
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [_pool_cluster(c), _epp_cluster(c)],
        },
    }
    if c.stats_port is not None:
        doc["static_resources"]["listeners"].append(_stats_listener(c, c.stats_port))
        doc["static_resources"]["clusters"].append(_admin_cluster(c))
    return doc
