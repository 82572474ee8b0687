"""The proxy hot path: parse what routing needs, pick, forward, relay bytes unchanged.

Retries: a connect error or a 5xx *before anything was sent to the client* goes to another
endpoint (at most `max_retries` more); after the first byte was relayed nothing is retried.
A client disconnect cancels the handler (aiohttp handler_cancellation), which closes the
upstream connection, so the replica aborts the request.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from typing import TYPE_CHECKING

import aiohttp
import orjson
from aiohttp import web

from heteropool.gateway.openai_body import RequestBodyError, prompt_text, usage_from_json, usage_from_sse_tail
from heteropool.routing import NoEndpointError, RouteRequest, estimate_prompt_tokens

if TYPE_CHECKING:
    from heteropool.gateway.server import Gateway

__all__ = ["ENDPOINT_HEADER", "handle_inference", "json_error"]

log = logging.getLogger(__name__)

ENDPOINT_HEADER = "x-heteropool-endpoint"
_FORWARD_HEADERS = ("Accept", "X-Request-Id", "traceparent")
_DONE = b"data: [DONE]\n\n"
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
_ids = itertools.count()
_pid = os.getpid()


def json_error(status: int, message: str, kind: str, *, retry_after: int | None = None) -> web.Response:
    """An OpenAI-style error body."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body = orjson.dumps({"error": {"message": message, "type": kind, "code": status}})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


async def handle_inference(gw: Gateway, request: web.Request) -> web.StreamResponse:
    s = gw.settings
    m = gw.metrics
    policy = gw.router.name
    t_start = time.perf_counter()

    if gw.auth_header is not None and request.headers.get("Authorization") != gw.auth_header:
        m.outcome(policy, "rejected").inc()
        return json_error(401, "missing or invalid bearer token", "authentication_error")
    if request.content_length is not None and request.content_length > s.max_body_bytes:
        m.outcome(policy, "rejected").inc()
        return _too_large(request.content_length, s.max_body_bytes)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        m.outcome(policy, "rejected").inc()
        return _too_large(None, s.max_body_bytes)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        m.outcome(policy, "rejected").inc()
        return json_error(400, f"request body is not valid JSON: {exc}", "invalid_request_error")
    if not isinstance(doc, dict):
        m.outcome(policy, "rejected").inc()
        return json_error(400, "request body must be a JSON object", "invalid_request_error")

    try:
        prompt = prompt_text(doc, chat=request.path.endswith("/chat/completions"))
    except RequestBodyError as exc:
        m.outcome(policy, "rejected").inc()
        return json_error(400, str(exc), "invalid_request_error")
    prompt_tokens = estimate_prompt_tokens(prompt)
    max_tokens = doc.get("max_tokens") or doc.get("max_completion_tokens") or 0
    rreq = RouteRequest(
        request_id=f"{_pid}-{next(_ids)}",
        prompt=prompt,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens if isinstance(max_tokens, int) else 0,
    )
    headers = {"Content-Type": "application/json"}
    for h in _FORWARD_HEADERS:
        v = request.headers.get(h)
        if v is not None:
            headers[h] = v

    tried: list[str] = []
    last_error = "no endpoint"
    attempts = s.max_retries + 1
    for attempt in range(attempts):
        views, full = gw.pool.candidates(tried)
        if not views:
            if tried:
                break
            if full:
                m.outcome(policy, "saturated").inc()
                return json_error(429, "every endpoint is at its in-flight limit", "overloaded", retry_after=s.retry_after_s)
            m.outcome(policy, "no_endpoint").inc()
            return json_error(503, "no healthy endpoint", "unavailable", retry_after=s.retry_after_s)
        t0 = time.perf_counter()
        try:
            url = gw.router.pick(rreq, views)
        except NoEndpointError as exc:
            outcome = "saturated" if exc.saturated else "no_endpoint"
            m.outcome(policy, outcome).inc()
            kind = "overloaded" if exc.saturated else "unavailable"
            return json_error(429 if exc.saturated else 503, str(exc), kind, retry_after=s.retry_after_s)
        m.timing(policy)[0].observe(time.perf_counter() - t0)
        st = gw.pool.get(url)
        vendor = st.vendor if st is not None else "unknown"
        em = m.endpoint(url, vendor)
        share = gw.prefix_share(rreq, url)
        gw.router.on_routed(rreq, url)
        gw.pool.acquire(url, prompt_tokens)
        em.routed.inc()
        if share is not None:
            em.prefix_hit.observe(share)
        try:
            upstream = await gw.session.post(url + request.path_qs, data=body, headers=headers)
        except _CONNECT_ERRORS as exc:
            _abandon(gw, rreq, url, prompt_tokens)
            last_error = f"{url}: {exc.__class__.__name__}: {exc}"
            if gw.pool.failure(url, hard=True):
                m.endpoint(url, vendor).ejections.inc()
                log.warning("endpoint ejected after a connect failure: %s", last_error)
                # refused/reset: the replica is gone or restarting, and so is its KV cache
                gw.router.on_endpoints_removed([url])
            tried.append(url)
            log.debug("upstream connect failed, trying another endpoint: %s", last_error)
            if attempt + 1 < attempts:
                m.retries.labels("connect").inc()
            continue
        except asyncio.TimeoutError:
            _abandon(gw, rreq, url, prompt_tokens)
            m.outcome(policy, "timeout").inc()
            return json_error(504, f"upstream {url} timed out", "timeout")
        except BaseException:
            _abandon(gw, rreq, url, prompt_tokens)
            m.outcome(policy, "cancelled").inc()
            raise
        if (
            upstream.status in _RETRYABLE_STATUS
            and attempt + 1 < attempts
            and gw.pool.candidates([*tried, url])[0]
        ):
            upstream.close()
            _abandon(gw, rreq, url, prompt_tokens)
            last_error = f"{url}: HTTP {upstream.status}"
            if gw.pool.failure(url):
                m.endpoint(url, vendor).ejections.inc()
                log.warning("endpoint ejected after repeated errors: %s", last_error)
            tried.append(url)
            m.retries.labels("status").inc()
            continue
        return await _relay(gw, request, upstream, rreq, url, vendor, t_start)

    m.outcome(policy, "upstream_error").inc()
    return json_error(502, f"all tried endpoints failed; last: {last_error}", "upstream_error")


def _too_large(size: int | None, limit: int) -> web.Response:
    got = f" ({size} bytes)" if size is not None else ""
    return json_error(413, f"request body too large{got}; the limit is {limit} bytes", "request_too_large")


def _abandon(gw: Gateway, rreq: RouteRequest, url: str, prompt_tokens: int) -> None:
    gw.pool.release(url, prompt_tokens)
    gw.router.on_finished(rreq, url, ok=False)


async def _relay(
    gw: Gateway,
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    rreq: RouteRequest,
    url: str,
    vendor: str,
    t_start: float,
) -> web.StreamResponse:
    m = gw.metrics
    policy = gw.router.name
    queued = rreq.prompt_tokens
    ok = upstream.status < 400
    outcome = "ok" if ok else "client_error" if upstream.status < 500 else "upstream_error"
    ctype = upstream.headers.get("Content-Type", "application/json")
    headers = {"Content-Type": ctype, ENDPOINT_HEADER: url}
    usage: tuple[int, int] | None = None
    clean = False
    try:
        if ctype.startswith("text/event-stream"):
            headers["Cache-Control"] = "no-cache"
            resp = web.StreamResponse(status=upstream.status, headers=headers)
            await resp.prepare(request)
            prev = last = b""
            first = True
            eof_sent = False
            try:
                async for chunk in upstream.content.iter_any():
                    if first:
                        first = False
                        m.timing(policy)[1].observe(time.perf_counter() - t_start)
                        gw.pool.first_token(url, queued)
                        queued = 0
                    prev, last = last, chunk
                    if eof_sent:
                        continue  # nothing may follow [DONE]; drain so the connection is reused
                    if chunk.endswith(_DONE):
                        # the final event: send it together with the chunked terminator (one write)
                        await resp.write_eof(chunk)
                        eof_sent = True
                    else:
                        await resp.write(chunk)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                # mid-stream failure: the client already has bytes, so cut the stream.
                outcome = "timeout" if isinstance(exc, asyncio.TimeoutError) else "upstream_error"
                log.warning("upstream %s failed mid-stream: %r", url, exc)
                ok = False
                if gw.pool.failure(url):
                    m.endpoint(url, vendor).ejections.inc()
                if request.transport is not None:
                    request.transport.close()
                return resp
            if not eof_sent:
                await resp.write_eof()
            usage = usage_from_sse_tail(prev + last)
        else:
            try:
                data = await upstream.read()
            except asyncio.TimeoutError:
                outcome, ok = "timeout", False
                return json_error(504, f"upstream {url} timed out", "timeout")
            except aiohttp.ClientError as exc:
                outcome, ok = "upstream_error", False
                return json_error(502, f"upstream {url} failed: {exc}", "upstream_error")
            m.timing(policy)[1].observe(time.perf_counter() - t_start)
            gw.pool.first_token(url, queued)
            queued = 0
            if ok:
                usage = usage_from_json(data)
            resp = web.Response(status=upstream.status, body=data, headers=headers)
        clean = True
        return resp
    except (asyncio.CancelledError, ConnectionResetError):
        outcome, ok = "cancelled", False
        raise
    finally:
        if clean:
            upstream.release()
        else:
            upstream.close()
        gw.pool.release(url, queued)
        gw.router.on_finished(rreq, url, ok=ok)
        if ok:
            gw.pool.success(url)
        elif upstream.status >= 500 and gw.pool.failure(url):
            m.endpoint(url, vendor).ejections.inc()
        m.outcome(policy, outcome).inc()
        m.timing(policy)[2].observe(time.perf_counter() - t_start)
        em = m.endpoint(url, vendor)
        if usage is not None:
            em.prompt_tokens.inc(usage[0])
            em.completion_tokens.inc(usage[1])
        else:
            em.prompt_tokens.inc(rreq.prompt_tokens)
