"""The ext_proc gRPC service: one stream per HTTP request, driven by the data plane's messages.

Processing modes (announced in the first message's `protocol_config`):
- request body BUFFERED (Envoy Gateway's usual setting): answer the headers at once, pick on the
  whole body, return the pick on the body answer (header mutation + route cache cleared);
- request body FULL_DUPLEX_STREAMED (GIE's reference setting, optionally with trailers): the
  picker owns the body: collect the chunks, pick, then answer the headers (with the pick) and
  hand the body back in one streamed body answer;
- request body NONE: pick on the headers alone (no prompt, so no prefix affinity).
Response headers SEND or SKIP, response body NONE, STREAMED or FULL_DUPLEX_STREAMED all work.
Load accounting needs no per-chunk work: response headers mark the prompt as started, and the
stream's end (Envoy closes it when the HTTP request ends) releases the request.
The request's `x-gateway-inference-objective` header names its objective (its priority). A request
no endpoint can take now waits in the picker (the stream stays open, nothing else waits) until an
endpoint frees up or its time runs out (429 with Retry-After).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc

from heteropool.epp import protocol
from heteropool.epp.picker import Decision, EndpointPicker, PickError, Saturated
from heteropool.routing import OBJECTIVE_HEADER

__all__ = ["ExternalProcessor"]

log = logging.getLogger(__name__)

_BUFFERED = (pm.ProcessingMode.BUFFERED, pm.ProcessingMode.BUFFERED_PARTIAL)
_FULL_DUPLEX = pm.ProcessingMode.FULL_DUPLEX_STREAMED


def _error(exc: PickError) -> ep.ProcessingResponse:
    headers = [("retry-after", str(exc.retry_after))] if exc.retry_after is not None else []
    return protocol.immediate_error(exc.status, str(exc), exc.kind, headers=headers)


def _picked(decision: Decision, *, where: str) -> ep.ProcessingResponse:
    """The answer that carries the pick: header mutation + dynamic metadata (+ route cache cleared)."""
    common = ep.CommonResponse(header_mutation=protocol.pick_mutation(decision.addresses), clear_route_cache=True)
    metadata = protocol.pick_metadata(decision.addresses)
    if where == "body":
        return ep.ProcessingResponse(request_body=ep.BodyResponse(response=common), dynamic_metadata=metadata)
    return ep.ProcessingResponse(request_headers=ep.HeadersResponse(response=common), dynamic_metadata=metadata)


def _streamed_body(body: bytes, end_of_stream: bool) -> ep.ProcessingResponse:
    return ep.ProcessingResponse(
        request_body=ep.BodyResponse(
            response=ep.CommonResponse(
                body_mutation=ep.BodyMutation(
                    streamed_response=ep.StreamedBodyResponse(body=body, end_of_stream=end_of_stream)
                )
            )
        )
    )


async def _decide(
    picker: EndpointPicker, path: str, body: bytes, subset: frozenset[str] | None, objective: str | None
) -> Decision | PickError:
    """The pick, or the immediate answer; only a saturated request awaits anything."""
    try:
        return picker.pick(path, body, subset, objective)
    except Saturated as exc:
        try:
            return await picker.wait(exc)
        except PickError as rejected:
            return rejected
    except PickError as exc:
        return exc


class ExternalProcessor(ep_grpc.ExternalProcessorServicer):
    """`envoy.service.ext_proc.v3.ExternalProcessor` backed by an EndpointPicker."""

    def __init__(self, picker: EndpointPicker, *, default_body_mode: int = pm.ProcessingMode.BUFFERED) -> None:
        self.picker = picker
        self.default_body_mode = default_body_mode

    async def Process(  # noqa: N802 - the gRPC method name
        self, request_iterator: AsyncIterator[ep.ProcessingRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ep.ProcessingResponse]:
        picker = self.picker
        decision: Decision | None = None
        body_mode = self.default_body_mode
        response_body_mode = pm.ProcessingMode.NONE
        path = "/"
        subset: frozenset[str] | None = None
        objective: str | None = None
        chunks: list[bytes] = []
        try:
            async for req in request_iterator:
                kind = req.WhichOneof("request")
                if kind == "request_headers":
                    if req.HasField("protocol_config"):
                        body_mode = req.protocol_config.request_body_mode
                        response_body_mode = req.protocol_config.response_body_mode
                    headers = protocol.header_map(req.request_headers.headers)
                    path = headers.get(":path", "/")
                    subset = protocol.subset_hint(req.metadata_context)
                    objective = headers.get(OBJECTIVE_HEADER)
                    try:
                        picker.authorize(headers.get("authorization"))
                    except PickError as exc:
                        yield _error(exc)
                        return
                    if req.request_headers.end_of_stream or body_mode == pm.ProcessingMode.NONE:
                        outcome = await _decide(picker, path, b"", subset, objective)
                        if isinstance(outcome, PickError):
                            yield _error(outcome)
                            return
                        decision = outcome
                        yield _picked(decision, where="headers")
                        continue
                    if body_mode in _BUFFERED:
                        yield protocol.CONTINUE_REQUEST_HEADERS
                    elif body_mode != _FULL_DUPLEX:
                        yield _error(PickError(500, f"request body mode {pm.ProcessingMode.BodySendMode.Name(body_mode)}"
                                               " is not supported: use BUFFERED or FULL_DUPLEX_STREAMED", "config_error"))
                        return
                elif kind == "request_body":
                    chunks.append(req.request_body.body)
                    if not req.request_body.end_of_stream:
                        continue
                    body = b"".join(chunks)
                    outcome = await _decide(picker, path, body, subset, objective)
                    if isinstance(outcome, PickError):
                        yield _error(outcome)
                        return
                    decision = outcome
                    if body_mode == _FULL_DUPLEX:
                        yield _picked(decision, where="headers")
                        yield _streamed_body(body, True)
                    else:
                        yield _picked(decision, where="body")
                elif kind == "request_trailers":
                    if decision is None and body_mode == _FULL_DUPLEX:
                        body = b"".join(chunks)
                        outcome = await _decide(picker, path, body, subset, objective)
                        if isinstance(outcome, PickError):
                            yield _error(outcome)
                            return
                        decision = outcome
                        yield _picked(decision, where="headers")
                        yield _streamed_body(body, False)
                    yield protocol.CONTINUE_REQUEST_TRAILERS
                elif kind == "response_headers":
                    if decision is not None:
                        status = protocol.header_map(req.response_headers.headers).get(":status")
                        picker.response_started(
                            decision, protocol.served_endpoint(req.metadata_context),
                            int(status) if status and status.isdigit() else None,
                        )
                    yield protocol.CONTINUE_RESPONSE_HEADERS
                elif kind == "response_body":
                    if response_body_mode == _FULL_DUPLEX:
                        rb = req.response_body
                        yield ep.ProcessingResponse(
                            response_body=ep.BodyResponse(
                                response=ep.CommonResponse(
                                    body_mutation=ep.BodyMutation(
                                        streamed_response=ep.StreamedBodyResponse(
                                            body=rb.body, end_of_stream=rb.end_of_stream
                                        )
                                    )
                                )
                            )
                        )
                    else:
                        yield protocol.CONTINUE_RESPONSE_BODY
                elif kind == "response_trailers":
                    yield protocol.CONTINUE_RESPONSE_TRAILERS
        finally:
            if decision is not None:
                picker.finished(decision)


