"""The Endpoint Picker Protocol (GIE proposal 004, protocol 1.0): names and message shapes.

Pure functions from and to ext_proc protobuf messages; no networking here. What the protocol
says, in short (docs/endpoint-picker.md has the long form):
- the data plane MAY restrict the pick to a subset: filter metadata `envoy.lb.subset_hint`, key
  `x-gateway-destination-endpoint-subset`, a list of `ip:port`; none eligible -> 503;
- the picker answers with the header `x-gateway-destination-endpoint` and the same value as
  dynamic metadata `envoy.lb` / `x-gateway-destination-endpoint`: `ip:port`, or an ordered
  comma-separated fallback list the data plane tries in order on retries;
- 503 when nothing is ready, 429 to shed load;
- the data plane reports who served in metadata `envoy.lb` / `x-gateway-destination-endpoint-served`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.type.v3 import http_status_pb2
from google.protobuf import struct_pb2

__all__ = [
    "DESTINATION_HEADER",
    "DESTINATION_SERVED_KEY",
    "LB_NAMESPACE",
    "SUBSET_NAMESPACE",
    "SUBSET_KEY",
    "header_map",
    "subset_hint",
    "served_endpoint",
    "pick_mutation",
    "pick_metadata",
    "immediate_error",
    "CONTINUE_REQUEST_HEADERS",
    "CONTINUE_RESPONSE_HEADERS",
    "CONTINUE_RESPONSE_BODY",
    "CONTINUE_REQUEST_TRAILERS",
    "CONTINUE_RESPONSE_TRAILERS",
]

DESTINATION_HEADER = "x-gateway-destination-endpoint"
DESTINATION_SERVED_KEY = "x-gateway-destination-endpoint-served"
LB_NAMESPACE = "envoy.lb"
SUBSET_NAMESPACE = "envoy.lb.subset_hint"
SUBSET_KEY = "x-gateway-destination-endpoint-subset"

CONTINUE_REQUEST_HEADERS = ep.ProcessingResponse(request_headers=ep.HeadersResponse())
CONTINUE_RESPONSE_HEADERS = ep.ProcessingResponse(response_headers=ep.HeadersResponse())
CONTINUE_RESPONSE_BODY = ep.ProcessingResponse(response_body=ep.BodyResponse())
CONTINUE_REQUEST_TRAILERS = ep.ProcessingResponse(request_trailers=ep.TrailersResponse())
CONTINUE_RESPONSE_TRAILERS = ep.ProcessingResponse(response_trailers=ep.TrailersResponse())


def header_map(headers: base_pb2.HeaderMap) -> dict[str, str]:
    """Lower-cased header names to values (Envoy sends values in `raw_value` unless configured)."""
    out: dict[str, str] = {}
    for h in headers.headers:
        out[h.key] = h.raw_value.decode("latin-1") if h.raw_value else h.value
    return out


def _metadata_value(metadata: base_pb2.Metadata, namespace: str, key: str) -> struct_pb2.Value | None:
    ns = metadata.filter_metadata.get(namespace)
    if ns is None or key not in ns.fields:
        return None
    return ns.fields[key]


def subset_hint(metadata: base_pb2.Metadata) -> frozenset[str] | None:
    """The `ip:port` subset the data plane allows, or None when it sent no hint.

    The protocol sends a list; a comma-separated string is accepted too (some gateways flatten it).
    An empty list is a hint that allows nothing.
    """
    value = _metadata_value(metadata, SUBSET_NAMESPACE, SUBSET_KEY)
    if value is None:
        return None
    kind = value.WhichOneof("kind")
    if kind == "list_value":
        return frozenset(v.string_value.strip() for v in value.list_value.values if v.string_value.strip())
    if kind == "string_value":
        return frozenset(p.strip() for p in value.string_value.split(",") if p.strip())
    return frozenset()


def served_endpoint(metadata: base_pb2.Metadata) -> str | None:
    """The `ip:port` the data plane reports as having served the request, if it reports one."""
    value = _metadata_value(metadata, LB_NAMESPACE, DESTINATION_SERVED_KEY)
    if value is None or value.WhichOneof("kind") != "string_value":
        return None
    return value.string_value.split(",")[0].strip() or None


def pick_mutation(addresses: Sequence[str]) -> ep.HeaderMutation:
    """Set the destination header to the ordered `ip:port` list (first = primary)."""
    value = ",".join(addresses).encode()
    return ep.HeaderMutation(
        set_headers=[
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=DESTINATION_HEADER, raw_value=value),
                append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
            )
        ]
    )


def pick_metadata(addresses: Sequence[str]) -> struct_pb2.Struct:
    """The same list as dynamic metadata `envoy.lb` / `x-gateway-destination-endpoint`."""
    md = struct_pb2.Struct()
    md.fields[LB_NAMESPACE].struct_value.fields[DESTINATION_HEADER].string_value = ",".join(addresses)
    return md


def immediate_error(
    status: int, message: str, kind: str, *, headers: Iterable[tuple[str, str]] = ()
) -> ep.ProcessingResponse:
    """An OpenAI-style JSON error answered by the data plane without reaching any replica."""
    body = orjson.dumps({"error": {"message": message, "type": kind, "code": status}})
    extra = [("content-type", "application/json"), *headers]
    return ep.ProcessingResponse(
        immediate_response=ep.ImmediateResponse(
            status=http_status_pb2.HttpStatus(code=status),
            body=body,
            headers=ep.HeaderMutation(
                set_headers=[
                    base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, raw_value=v.encode()))
                    for k, v in extra
                ]
            ),
            details=f"heteropool_epp_{kind}",
        )
    )
