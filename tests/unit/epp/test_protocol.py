"""The Endpoint Picker Protocol's message shapes (GIE proposal 004)."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2

from heteropool.epp import protocol


def _metadata(namespace: str, key: str, value: object) -> base_pb2.Metadata:
    md = base_pb2.Metadata()
    s = struct_pb2.Struct()
    s.update({key: value})
    md.filter_metadata[namespace].CopyFrom(s)
    return md


def test_subset_hint_as_list_as_string_and_absent() -> None:
    listed = _metadata(protocol.SUBSET_NAMESPACE, protocol.SUBSET_KEY, ["10.0.0.1:8000", "10.0.0.2:8000"])
    assert protocol.subset_hint(listed) == {"10.0.0.1:8000", "10.0.0.2:8000"}
    flat = _metadata(protocol.SUBSET_NAMESPACE, protocol.SUBSET_KEY, "10.0.0.1:8000, 10.0.0.2:8000")
    assert protocol.subset_hint(flat) == {"10.0.0.1:8000", "10.0.0.2:8000"}
    assert protocol.subset_hint(_metadata(protocol.SUBSET_NAMESPACE, protocol.SUBSET_KEY, [])) == frozenset()
    assert protocol.subset_hint(base_pb2.Metadata()) is None


def test_header_and_metadata_carry_the_same_ordered_list() -> None:
    picks = ["10.0.0.1:8000", "10.0.0.2:8000"]
    header = protocol.pick_mutation(picks).set_headers[0].header
    metadata = protocol.pick_metadata(picks).fields["envoy.lb"].struct_value.fields
    assert header.key == "x-gateway-destination-endpoint"
    assert header.raw_value.decode() == metadata["x-gateway-destination-endpoint"].string_value
    assert header.raw_value == b"10.0.0.1:8000,10.0.0.2:8000"


def test_served_endpoint_is_read_back() -> None:
    md = _metadata(protocol.LB_NAMESPACE, protocol.DESTINATION_SERVED_KEY, "10.0.0.2:8000")
    assert protocol.served_endpoint(md) == "10.0.0.2:8000"
    assert protocol.served_endpoint(base_pb2.Metadata()) is None


def test_immediate_error_is_an_openai_error_body() -> None:
    reply = protocol.immediate_error(429, "busy", "overloaded", headers=[("retry-after", "1")]).immediate_response
    assert reply.status.code == 429
    assert reply.body == b'{"error":{"message":"busy","type":"overloaded","code":429}}'
    assert {h.header.key for h in reply.headers.set_headers} == {"content-type", "retry-after"}
