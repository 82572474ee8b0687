"""The proxy through real sockets in-process: relay, retries, ejection, limits, cancellation."""

from __future__ import annotations

import asyncio
import socket

import orjson

from heteropool.gateway.proxy import ENDPOINT_HEADER
from heteropool.routing import EndpointEntry

from .conftest import wait_for

STREAM_BODY = {"prompt": "hello world", "max_tokens": 5, "stream": True, "stream_options": {"include_usage": True}}


def _entry(url: str, vendor: str = "nvidia", **kw: object) -> EndpointEntry:
    return EndpointEntry(url=url, vendor=vendor, **kw)  # type: ignore[arg-type]


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


async def test_streaming_is_relayed_byte_for_byte_with_usage_and_endpoint_header(stubs, gateway) -> None:
    url, _ = await stubs("a")
    h = await gateway([_entry(url)])
    async with h.client.post(f"{url}/v1/completions", json=STREAM_BODY) as r:
        direct = await r.read()
    async with h.client.post(f"{h.url}/v1/completions", json=STREAM_BODY) as r:
        assert r.status == 200
        assert r.headers[ENDPOINT_HEADER] == url
        assert r.headers["Content-Type"].startswith("text/event-stream")
        via = await r.read()
    # the stub numbers its responses; align ids, everything else must be identical
    assert via.replace(b"cmpl-a-2", b"cmpl-a-1") == direct
    assert b'"usage"' in via and via.endswith(b"data: [DONE]\n\n")


async def test_non_streaming_chat_body_passes_through_unchanged(stubs, gateway) -> None:
    url, _ = await stubs("a")
    h = await gateway([_entry(url)])
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    async with h.client.post(f"{url}/v1/chat/completions", json=body) as r:
        direct = await r.read()
    async with h.client.post(f"{h.url}/v1/chat/completions", json=body) as r:
        assert r.status == 200
        via = await r.read()
    assert via.replace(b"cmpl-a-2", b"cmpl-a-1") == direct
    metrics = await (await h.client.get(f"{h.url}/metrics")).text()
    assert f'heteropool_gateway_completion_tokens_total{{endpoint="{url}",vendor="nvidia"}} 3.0' in metrics


async def test_connect_error_is_retried_on_another_endpoint_and_the_dead_one_ejected(stubs, gateway) -> None:
    good, _ = await stubs("a")
    dead = _closed_port_url()
    h = await gateway([_entry(dead), _entry(good)], policy="round-robin")
    for _ in range(4):
        async with h.client.post(f"{h.url}/v1/completions", json=STREAM_BODY) as r:
            assert r.status == 200
            assert r.headers[ENDPOINT_HEADER] == good
            await r.read()
    assert h.gw.pool.ejected() == [dead]


async def test_5xx_before_first_byte_is_retried_then_passed_through_when_all_fail(stubs, gateway) -> None:
    bad, bad_app = await stubs("bad")
    good, _ = await stubs("good")
    bad_app["status"] = 500
    h = await gateway([_entry(bad), _entry(good)], policy="round-robin")
    for _ in range(4):
        async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"}) as r:
            assert r.status == 200
            assert r.headers[ENDPOINT_HEADER] == good
    h2 = await gateway([_entry(bad)], max_retries=1)
    async with h2.client.post(f"{h2.url}/v1/completions", json={"prompt": "x"}) as r:
        assert r.status == 500


async def test_ejected_endpoint_is_probed_back(stubs, gateway) -> None:
    url, app = await stubs("a")
    other, _ = await stubs("b")
    app["status"] = 503
    h = await gateway([_entry(url), _entry(other)], policy="round-robin", eject_after_failures=1,
                      probe_interval_s=0.02, eject_s=60)
    for _ in range(2):
        async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"}) as r:
            assert r.status == 200
    assert h.gw.pool.ejected() == [url]
    app["status"] = 200
    await wait_for(lambda: h.gw.pool.ejected() == [])


async def test_oversized_body_gets_413_with_a_clear_message(stubs, gateway) -> None:
    url, _ = await stubs("a")
    h = await gateway([_entry(url)], max_body_bytes=2048)
    async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x" * 5000}) as r:
        assert r.status == 413
        doc = orjson.loads(await r.read())
    assert "limit is 2048 bytes" in doc["error"]["message"]


async def test_bearer_token_is_required_when_configured(stubs, gateway) -> None:
    url, _ = await stubs("a")
    h = await gateway([_entry(url)], api_key="s3cret")
    async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"}) as r:
        assert r.status == 401
    async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"},
                             headers={"Authorization": "Bearer s3cret"}) as r:
        assert r.status == 200


async def test_saturated_pool_answers_429_with_retry_after(stubs, gateway) -> None:
    url, app = await stubs("a")
    app["delay_s"] = 2.0
    h = await gateway([_entry(url)], max_in_flight_per_endpoint=1, retry_after_s=3)
    first = asyncio.create_task(h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"}))
    await wait_for(lambda: h.gw.pool.get(url).in_flight == 1)  # type: ignore[union-attr]
    async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"}) as r:
        assert r.status == 429
        assert r.headers["Retry-After"] == "3"
    first.cancel()
    try:
        await first
    except asyncio.CancelledError:
        pass


async def test_no_endpoint_answers_503_and_readyz_fails(gateway) -> None:
    h = await gateway([])
    async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"}) as r:
        assert r.status == 503
    async with h.client.get(f"{h.url}/readyz") as r:
        assert r.status == 503
    async with h.client.get(f"{h.url}/healthz") as r:
        assert r.status == 200


async def test_client_disconnect_cancels_the_upstream_request(stubs, gateway) -> None:
    url, app = await stubs("a")
    app["token_delay_s"] = 0.05
    h = await gateway([_entry(url)])
    resp = await h.client.post(f"{h.url}/v1/completions", json={**STREAM_BODY, "max_tokens": 200})
    await resp.content.readany()
    resp.close()
    await wait_for(lambda: app["aborted"] == 1)
    await wait_for(lambda: h.gw.pool.get(url).in_flight == 0)  # type: ignore[union-attr]


async def test_models_are_aggregated_across_endpoints(stubs, gateway) -> None:
    a, _ = await stubs("a")
    b, _ = await stubs("b")
    h = await gateway([_entry(a), _entry(b, vendor="amd")])
    async with h.client.get(f"{h.url}/v1/models") as r:
        doc = orjson.loads(await r.read())
    assert [m["id"] for m in doc["data"]] == ["stub-model"]


async def test_invalid_json_is_a_400(stubs, gateway) -> None:
    url, _ = await stubs("a")
    h = await gateway([_entry(url)])
    async with h.client.post(f"{h.url}/v1/completions", data=b"{nope") as r:
        assert r.status == 400


async def test_upstream_silence_beyond_the_read_timeout_is_a_504(stubs, gateway) -> None:
    url, app = await stubs("a")
    app["delay_s"] = 5.0
    h = await gateway([_entry(url)], read_timeout_s=0.05)
    async with h.client.post(f"{h.url}/v1/completions", json={"prompt": "x"}) as r:
        assert r.status == 504
    await wait_for(lambda: h.gw.pool.get(url).in_flight == 0)  # type: ignore[union-attr]


async def test_metrics_expose_outcomes_decisions_and_routing(stubs, gateway) -> None:
    url, _ = await stubs("a")
    h = await gateway([_entry(url, vendor="amd")])
    async with h.client.post(f"{h.url}/v1/completions", json=STREAM_BODY) as r:
        await r.read()
    text = await (await h.client.get(f"{h.url}/metrics")).text()
    for needle in (
        'heteropool_gateway_requests_total{outcome="ok",policy="heteropool"} 1.0',
        'heteropool_gateway_decision_seconds_count{policy="heteropool"} 1.0',
        f'heteropool_gateway_routed_requests_total{{endpoint="{url}",vendor="amd"}} 1.0',
        'heteropool_gateway_ttft_seconds_count{policy="heteropool"} 1.0',
        'heteropool_gateway_prefix_hit_ratio_count{vendor="amd"} 1.0',
        f'heteropool_gateway_endpoint_in_flight_requests{{endpoint="{url}",vendor="amd"}} 0.0',
    ):
        assert needle in text


async def test_per_endpoint_series_leave_with_the_endpoint(stubs, gateway) -> None:
    a, _ = await stubs("a")
    b, _ = await stubs("b")
    h = await gateway([_entry(a), _entry(b)])
    routed = "heteropool_gateway_routed_requests_total{{endpoint=\"{}\",vendor=\"nvidia\"}}"
    for i in range(40):  # distinct cold prompts spread over both endpoints
        body = {**STREAM_BODY, "prompt": f"{i} " * 50}
        async with h.client.post(f"{h.url}/v1/completions", json=body) as r:
            await r.read()
        text = await (await h.client.get(f"{h.url}/metrics")).text()
        if routed.format(a) in text and routed.format(b) in text:
            break
    assert routed.format(a) in text and routed.format(b) in text
    h.gw.apply_endpoints([_entry(a)])  # b's pod went away
    text = await (await h.client.get(f"{h.url}/metrics")).text()
    assert routed.format(a) in text and f'endpoint="{b}"' not in text
