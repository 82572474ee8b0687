"""`heteropool sim` as a real process on 127.0.0.1: vLLM metrics, OpenAI clients, admin faults."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from heteropool_testing.processes import BIN, Proc, start_sim

pytestmark = pytest.mark.slow

MODEL = "ibm-granite/granite-4.1-8b"

# docs/weights.md, "Metrics read": name -> type (as prometheus_client's parser reports the family)
EXPECTED_METRICS = {
    "vllm:num_requests_running": "gauge",
    "vllm:num_requests_waiting": "gauge",
    "vllm:kv_cache_usage_perc": "gauge",
    "vllm:generation_tokens": "counter",
    "vllm:prompt_tokens": "counter",
    "vllm:prefix_cache_hits": "counter",
    "vllm:prefix_cache_queries": "counter",
    "vllm:time_to_first_token_seconds": "histogram",
    "vllm:inter_token_latency_seconds": "histogram",
    "vllm:e2e_request_latency_seconds": "histogram",
    "vllm:cache_config_info": "gauge",
}


@pytest.fixture
def sim() -> Iterator[Proc]:
    s = start_sim("h100-nvl", None, 20.0, "--model", MODEL, "--enable-admin-api")
    yield s
    s.stop()


def test_list_profiles_prints_one_name_per_line() -> None:
    out = subprocess.run([str(BIN), "sim", "--list-profiles"], capture_output=True, text=True, check=True).stdout
    names = out.split()
    assert {"h100-nvl", "mi325x", "gaudi3"} <= set(names) and out.count("\n") == len(names)


def test_metric_names_types_and_labels_match_vllm(sim: Proc) -> None:
    client = openai.OpenAI(base_url=sim.url + "/v1", api_key="x")
    client.completions.create(model=MODEL, prompt="hello " * 50, max_tokens=4)
    client.completions.create(model=MODEL, prompt="hello " * 50, max_tokens=4)
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(sim.url + "/metrics").text)}
    for name, kind in EXPECTED_METRICS.items():
        assert name in families, name
        assert families[name].type == kind, (name, families[name].type)
    for name in EXPECTED_METRICS:
        if name == "vllm:cache_config_info":
            continue
        sample = families[name].samples[0]
        assert sample.labels.get("model_name") == MODEL and sample.labels.get("engine") == "0", name
    info = families["vllm:cache_config_info"].samples[0].labels
    assert info["block_size"] == "16" and int(info["num_gpu_blocks"]) > 0
    gen = families["vllm:generation_tokens"].samples
    assert [s.value for s in gen if s.name == "vllm:generation_tokens_total"] == [8.0]
    hits = [s.value for s in families["vllm:prefix_cache_hits"].samples if s.name.endswith("_total")]
    assert hits[0] > 0  # the second prompt reused the first one's blocks
    ttft_buckets = [
        s.labels["le"] for s in families["vllm:time_to_first_token_seconds"].samples if s.name.endswith("_bucket")
    ]
    assert ttft_buckets[:3] == ["0.001", "0.005", "0.01"] and ttft_buckets[-1] == "+Inf"


@pytest.mark.parametrize("chat", [False, True], ids=["completions", "chat"])
def test_openai_client_accepts_streaming_and_plain_responses(sim: Proc, chat: bool) -> None:
    client = openai.OpenAI(base_url=sim.url + "/v1", api_key="x")
    assert [m.id for m in client.models.list()] == [MODEL]
    if chat:
        messages = [{"role": "user", "content": "Tell me about KV caches."}]
        plain = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12)  # type: ignore[arg-type]
        assert plain.choices[0].finish_reason == "length" and plain.usage and plain.usage.completion_tokens == 12
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=messages,
                max_tokens=12,
                stream=True,  # type: ignore[arg-type]
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == plain.choices[0].message.content
    else:
        plain_c = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=12)
        assert plain_c.choices[0].finish_reason == "length" and plain_c.usage and plain_c.usage.total_tokens > 12
        chunks = list(
            client.completions.create(  # type: ignore[call-overload]
                model=MODEL,
                prompt="Once upon a time",
                max_tokens=12,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        assert text == plain_c.choices[0].text
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == 12


def test_sse_wire_format_ends_with_usage_then_done(sim: Proc) -> None:
    body = {"model": MODEL, "prompt": "hi", "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}}
    raw = httpx.post(sim.url + "/v1/completions", json=body).text
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])
    assert '"choices":[]' in events[-3] and '"usage"' in events[-3]


def test_continuous_usage_stats_put_usage_on_every_chunk(sim: Proc) -> None:
    body = {
        "model": MODEL,
        "prompt": "hi",
        "max_tokens": 3,
        "stream": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    events = [
        e for e in httpx.post(sim.url + "/v1/completions", json=body).text.split("\n\n") if e.startswith("data: {")
    ]
    assert len(events) == 4 and all('"usage"' in e for e in events)
    assert '"completion_tokens":2' in events[1]


def test_bad_requests_get_vllm_style_errors(sim: Proc) -> None:
    r = httpx.post(sim.url + "/v1/completions", json={"model": "nope", "prompt": "x"})
    assert r.status_code == 404 and "does not exist" in r.json()["error"]["message"]
    r = httpx.post(sim.url + "/v1/completions", json={"model": MODEL, "prompt": "x", "stream_options": {}})
    assert r.status_code == 400
    r = httpx.post(sim.url + "/v1/completions", json={"model": MODEL, "prompt": "x " * 10, "max_tokens": 10**7})
    assert r.status_code == 400 and "maximum context length" in r.json()["error"]["message"]


def test_admin_config_faults_and_restores_live(sim: Proc) -> None:
    assert httpx.get(sim.url + "/admin/config").json()["slowdown"] == 1.0
    body = {"model": MODEL, "prompt": "hello", "max_tokens": 2}
    r = httpx.post(sim.url + "/admin/config", json={"error_rate": 1.0})
    assert r.status_code == 200 and r.json()["error_rate"] == 1.0
    assert httpx.post(sim.url + "/v1/completions", json=body).status_code == 500
    httpx.post(sim.url + "/admin/config", json={"error_rate": 1.0, "error_mode": "reset"})
    with pytest.raises(httpx.TransportError):
        httpx.post(sim.url + "/v1/completions", json=body)
    httpx.post(sim.url + "/admin/config", json={"error_mode": "hang"})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(sim.url + "/v1/completions", json=body, timeout=0.3)
    httpx.post(sim.url + "/admin/config", json={"slowdown": 1.0, "error_rate": 0})
    assert httpx.post(sim.url + "/v1/completions", json=body).status_code == 200
    bad = httpx.post(sim.url + "/admin/config", json={"error_rate": 2})
    assert bad.status_code == 400 and "error_rate" in bad.json()["error"]["message"]
    assert httpx.post(sim.url + "/admin/config", json={"slowdwn": 2}).status_code == 400
    httpx.post(sim.url + "/admin/config", json={"draining": True})
    assert httpx.get(sim.url + "/health").status_code == 503
    assert httpx.post(sim.url + "/v1/completions", json=body).status_code == 503
    httpx.post(sim.url + "/admin/config", json={"draining": False})
    assert httpx.get(sim.url + "/health").status_code == 200


def _e2e_sum(url: str) -> float:
    for fam in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        if fam.name == "vllm:e2e_request_latency_seconds":
            return next(s.value for s in fam.samples if s.name.endswith("_sum"))
    raise AssertionError("no e2e histogram")


def test_slowdown_doubles_latency(sim: Proc) -> None:
    # Measured on the server's own timeline (the e2e histogram), so a busy test machine's
    # scheduling noise does not enter the ratio.
    body = {"model": MODEL, "prompt": "hello " * 20, "max_tokens": 100}

    def latency() -> float:
        before = _e2e_sum(sim.url)
        assert httpx.post(sim.url + "/v1/completions", json=body, timeout=30).status_code == 200
        return _e2e_sum(sim.url) - before

    base = latency()
    httpx.post(sim.url + "/admin/config", json={"slowdown": 2.0})
    slow = latency()
    httpx.post(sim.url + "/admin/config", json={"slowdown": 1.0})
    assert slow / base == pytest.approx(2.0, rel=0.05)


async def test_streamed_ttft_matches_the_virtual_time_simulation() -> None:
    """Same arrivals through the HTTP server (real time) and the fleet simulation (virtual time)."""
    from heteropool.fleet.simulation import FleetSimulation, ReplicaSpec
    from heteropool.fleet.workloads import WorkItem
    from heteropool.sim.profiles import build_profile

    scale = 1.0  # real time, so a loaded 2-core machine's scheduling noise is not magnified
    system = "".join(f" s{i % 50}" for i in range(3000))
    plan = [(0.0, 400, 30), (0.4, 900, 20), (0.45, 200, 40), (1.5, 600, 10)]  # engine s, question, max_tokens
    items = [
        WorkItem(t, f"r{i}", (system, q := "".join(f" q{i}x{j % 11}" for j in range(n))), system + q, mt)
        for i, (t, n, mt) in enumerate(plan)
    ]

    class Only:
        name = "only"

        def pick(self, request, endpoints):  # type: ignore[no-untyped-def]
            return endpoints[0].id

        def prefix_share(self, *a): ...  # type: ignore[no-untyped-def]

        def on_routed(self, *a): ...  # type: ignore[no-untyped-def]

        def on_finished(self, *a, **k): ...  # type: ignore[no-untyped-def]

        def on_endpoints_removed(self, *a): ...  # type: ignore[no-untyped-def]

    (stage,) = FleetSimulation([ReplicaSpec("x", build_profile("mi325x"))], Only()).run([(1.0, items)])
    virtual = {r.request_id: (r.ttft_s, r.output_tokens) for r in stage.requests}

    server = start_sim("mi325x", None, scale, "--model", MODEL)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

            async def one(item: WorkItem) -> tuple[str, float, int]:
                await asyncio.sleep(item.offset_s / scale)  # the arrival schedule itself
                body = {"model": MODEL, "prompt": item.prompt, "max_tokens": item.max_tokens, "stream": True}
                t0 = time.perf_counter()
                ttft, tokens = -1.0, 0
                async with client.stream("POST", "/v1/completions", json=body) as resp:
                    async for line in resp.aiter_lines():
                        if line.startswith("data: {"):
                            tokens += 1
                            if ttft < 0:
                                ttft = (time.perf_counter() - t0) * scale
                return item.request_id, ttft, tokens

            results = await asyncio.gather(*(one(i) for i in items))
    finally:
        server.stop()
    for rid, ttft, tokens in results:
        v_ttft, v_tokens = virtual[rid]
        assert tokens == v_tokens
        assert v_ttft is not None and abs(ttft - v_ttft) <= max(0.1, 0.15 * v_ttft), (rid, ttft, v_ttft)


def test_peer_router_probes_are_answered(sim: Proc) -> None:
    tok = httpx.post(sim.url + "/tokenize", json={"model": MODEL, "prompt": "one two six"}).json()
    assert tok["count"] == len(tok["tokens"]) == 3
    rendered = httpx.post(sim.url + "/v1/completions/render", json={"model": MODEL, "prompt": "one two six"}).json()
    assert rendered[0]["token_ids"] == tok["tokens"]
    chat = httpx.post(
        sim.url + "/v1/chat/completions/render", json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    ).json()
    assert chat[0]["token_ids"]
    info = httpx.get(sim.url + "/server_info").json()
    assert info["model_id"] == MODEL and "model_path" not in info and "tokenizer_path" not in info
    assert httpx.get(sim.url + "/load").json() == {"server_load": 0}
