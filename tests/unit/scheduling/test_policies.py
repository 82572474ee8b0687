"""build_router: the four policies, parameters, errors, and the behaviours each policy promises."""

from __future__ import annotations

import collections

import pytest

from heteropool.names import POLICY_NAMES
from heteropool.routing import EndpointView, NoEndpointError, Router
from heteropool.scheduling import ConfigError, build_router
from heteropool.scheduling.policies import PROFILES

from .conftest import make_request, make_view


def _prompt(group: int, n: int = 0, shared_chars: int = 4000) -> str:
    return (f"system prompt of group {group:04d}. " * 200)[:shared_chars] + f" question {n}"


def test_every_policy_name_has_exactly_one_profile() -> None:
    assert sorted(PROFILES) == sorted(POLICY_NAMES)


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_builds_and_implements_the_router_protocol(name: str) -> None:
    router: Router = build_router(name, seed=1)
    eps = [make_view("http://a"), make_view("http://b")]
    req = make_request()
    chosen = router.pick(req, eps)
    assert chosen in {"http://a", "http://b"}
    router.on_routed(req, chosen)
    router.on_finished(req, chosen, ok=True)
    router.on_endpoints_removed(["http://a"])
    assert router.name == name


@pytest.mark.parametrize(
    ("name", "parameters", "path"),
    [
        ("rr", None, "policy"),
        ("heteropool", {"capacity-load-scorer": {"spillAbz": 1}}, "spillAbz"),
        ("heteropool", {"queue-scorer": {}}, "parameters.queue-scorer"),
        ("llm-d", {"weights": {"prefix-cache-scorer": -1}}, "parameters.weights.prefix-cache-scorer"),
        ("llm-d", {"weights": {"nope": 1}}, "parameters.weights.nope"),
        ("heteropool", {"capacity-load-scorer": {"spillAbs": 0}}, "spillAbs"),
        ("heteropool", {"prefix-affinity-scorer": {"x": 1}}, "scorers[0].parameters.x"),
    ],
    ids=[
        "unknown-policy",
        "unknown-parameter",
        "plugin-not-in-policy",
        "negative-weight",
        "unknown-weight",
        "range",
        "parameterless-plugin",
    ],
)
def test_bad_names_and_parameters_raise_config_error_naming_the_path(
    name: str, parameters: dict[str, object] | None, path: str
) -> None:
    with pytest.raises(ConfigError) as err:
        build_router(name, parameters=parameters)
    assert path in str(err.value)


def test_parameters_override_plugin_parameters_and_weights() -> None:
    router = build_router(
        "llm-d", parameters={"approx-prefix-cache-producer": {"autoTune": False}, "weights": {"queue-scorer": 0}}
    )
    assert router.pick(make_request(), [make_view()]) == "http://a"


def test_routers_are_independent_and_seeded() -> None:
    eps = [make_view(f"http://e{i}") for i in range(5)]
    picks = [
        [build_router("least-request", seed=7).pick(make_request(request_id=str(i)), eps) for i in range(5)]
        for _ in range(2)
    ]
    assert picks[0] == picks[1]


def test_round_robin_gives_every_endpoint_the_same_share() -> None:
    router = build_router("round-robin")
    eps = [make_view(f"http://e{i}") for i in range(4)]
    counts = collections.Counter(router.pick(make_request(request_id=str(i)), eps) for i in range(400))
    assert set(counts.values()) == {100}


def test_least_request_picks_the_endpoint_with_fewest_in_flight() -> None:
    router = build_router("least-request")
    eps = [make_view("http://a", in_flight=5), make_view("http://b", in_flight=1), make_view("http://c", in_flight=3)]
    assert router.pick(make_request(), eps) == "http://b"


def _drive(router: Router, eps: list[EndpointView], prompts: list[str]) -> list[str]:
    out = []
    for i, p in enumerate(prompts):
        req = make_request(p, request_id=str(i))
        e = router.pick(req, eps)
        router.on_routed(req, e)
        out.append(e)
    return out


@pytest.mark.parametrize("name", ["heteropool", "llm-d"])
def test_prefix_policies_keep_a_shared_prefix_group_on_one_endpoint(name: str) -> None:
    router = build_router(name, seed=3)
    eps = [make_view(f"http://e{i}") for i in range(4)]
    chosen = _drive(router, eps, [_prompt(1, n) for n in range(10)])
    assert len(set(chosen)) == 1


def _warm_heteropool() -> tuple[Router, str, str]:
    """A heteropool router over a and b that has routed one prompt: (router, warm endpoint, the other)."""
    router = build_router("heteropool", seed=3)
    (warm,) = set(_drive(router, [make_view("http://a"), make_view("http://b")], [_prompt(1, 0)]))
    return router, warm, "http://b" if warm == "http://a" else "http://a"


def test_heteropool_spills_from_an_overloaded_warm_endpoint_and_the_spill_target_becomes_warm() -> None:
    router, warm, other = _warm_heteropool()
    loaded = [make_view(warm, in_flight=100), make_view(other, in_flight=0)]
    assert _drive(router, loaded, [_prompt(1, 1)]) == [other]
    # both warm now: the less loaded warm endpoint keeps it
    assert _drive(router, [make_view(warm, in_flight=1), make_view(other, in_flight=0)], [_prompt(1, 2)]) == [other]


def test_heteropool_sticks_while_the_warm_endpoint_is_moderately_busier() -> None:
    router, warm, other = _warm_heteropool()
    busy = [make_view(warm, in_flight=6), make_view(other, in_flight=0)]
    assert _drive(router, busy, [_prompt(1, 1)]) == [warm]


def test_heteropool_spreads_cold_prompts_in_proportion_to_capacity() -> None:
    router = build_router("heteropool", seed=3)
    caps = {"http://h100": 3600.0, "http://gaudi": 600.0}
    in_flight = {k: 0 for k in caps}
    for i in range(700):
        eps = [make_view(k, capacity_tokens_per_s=c, in_flight=in_flight[k]) for k, c in caps.items()]
        req = make_request(_prompt(1000 + i), request_id=str(i))
        e = router.pick(req, eps)
        router.on_routed(req, e)
        in_flight[e] += 1
    assert in_flight["http://h100"] == pytest.approx(600, abs=2)
    assert in_flight["http://gaudi"] == pytest.approx(100, abs=2)


def test_heteropool_normalizes_load_by_capacity() -> None:
    router = build_router("heteropool", seed=3)
    eps = [
        make_view("http://h100", capacity_tokens_per_s=3600, in_flight=5),
        make_view("http://gaudi", capacity_tokens_per_s=600, in_flight=5),
    ]
    assert router.pick(make_request("cold"), eps) == "http://h100"


def test_heteropool_credits_only_whole_blocks_of_each_endpoints_own_block_size() -> None:
    router = build_router("heteropool", seed=3)
    prompt = "abcdefgh" * 100  # 800 chars = 200 tokens
    eps = [make_view("http://h100", block_size=16), make_view("http://gaudi", block_size=128)]
    for e in ("http://h100", "http://gaudi"):
        req = make_request(prompt, request_id=e)
        router.pick(req, eps)
        router.on_routed(req, e)
    req = make_request(prompt, request_id="probe")
    router.pick(req, eps)
    # 768 hashed chars (6 blocks of 128); h100 credited 768 (48 blocks of 16), gaudi 512 (1 block of 128 tokens)
    assert router.prefix_share(req, "http://h100") == pytest.approx(768 / 800)
    assert router.prefix_share(req, "http://gaudi") == pytest.approx(512 / 800)


def test_heteropool_drains_zero_weight_endpoints_unless_all_are_zero() -> None:
    router = build_router("heteropool")
    eps = [make_view("http://a", capacity_multiplier=0.0), make_view("http://b", capacity_multiplier=1.0, in_flight=50)]
    assert {router.pick(make_request(request_id=str(i)), eps) for i in range(20)} == {"http://b"}
    zero = [make_view("http://a", capacity_multiplier=0.0), make_view("http://b", capacity_multiplier=0.0)]
    assert router.pick(make_request(), zero) in {"http://a", "http://b"}


def test_llm_d_uses_one_block_size_from_the_first_endpoint() -> None:
    router = build_router("llm-d")
    prompt = "abcdefgh" * 100
    eps = [make_view("http://gaudi", block_size=128), make_view("http://h100", block_size=16)]
    req = make_request(prompt)
    router.pick(req, eps)
    router.on_routed(req, "http://h100")
    req2 = make_request(prompt, request_id="2")
    router.pick(req2, eps)
    # 512-char blocks: 800 chars -> 2 blocks (one partial), both held by h100
    assert router.prefix_share(req2, "http://h100") == 1.0


def test_llm_d_scores_prefix_3_kv_2_queue_2() -> None:
    router = build_router("llm-d", seed=1)
    prompt = _prompt(5)
    eps = [
        make_view("http://warm", num_waiting=10, kv_cache_usage=0.9),
        make_view("http://cold", num_waiting=0, kv_cache_usage=0.0),
    ]
    req = make_request(prompt)
    router.pick(req, eps)
    router.on_routed(req, "http://warm")
    # warm: 3*1 + 2*0.1 + 2*0 = 3.2 ; cold: 0 + 2*1 + 2*1 = 4.0 -> cold wins
    assert router.pick(make_request(prompt, request_id="2"), eps) == "http://cold"
    less_loaded = [
        make_view("http://warm", num_waiting=2, kv_cache_usage=0.5),
        make_view("http://cold", num_waiting=0, kv_cache_usage=0.0),
    ]
    # warm: 3 + 1 + 0 = 4.0 ; cold: 4.0 -> tie broken at random; warm must win sometimes
    picks = {router.pick(make_request(prompt, request_id=f"t{i}"), less_loaded) for i in range(30)}
    assert picks == {"http://warm", "http://cold"}


def test_no_endpoints_raises_no_endpoint_error() -> None:
    with pytest.raises(NoEndpointError):
        build_router("heteropool").pick(make_request(), [])


def test_removed_endpoints_are_forgotten_by_the_index() -> None:
    router = build_router("heteropool")
    eps = [make_view("http://a"), make_view("http://b")]
    prompt = _prompt(9)
    req = make_request(prompt)
    router.pick(req, eps)
    router.on_routed(req, "http://a")
    router.on_endpoints_removed(["http://a"])
    req2 = make_request(prompt, request_id="2")
    router.pick(req2, eps)
    assert router.prefix_share(req2, "http://a") == 0.0
