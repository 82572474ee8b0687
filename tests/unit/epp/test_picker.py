"""The Endpoint Picker's decisions and accounting, in-process (no gRPC, no Envoy)."""

from __future__ import annotations

import pytest

from heteropool.epp.picker import EndpointPicker, PickError, address_of
from heteropool.routing import EndpointEntry
from heteropool.scheduling.endpoints import EndpointPool

A, B, C = "http://10.0.0.1:8000", "http://10.0.0.2:8000", "http://10.0.0.3:8000"
BODY = b'{"model": "m", "prompt": "hello world", "max_tokens": 8}'


def make_picker(policy: str = "least-request", max_in_flight: int = 1024, **kw: object) -> EndpointPicker:
    pool = EndpointPool(clock=lambda: 0.0, max_in_flight=max_in_flight)
    picker = EndpointPicker(pool, policy=policy, **kw)  # type: ignore[arg-type]
    picker.apply_endpoints(
        [
            EndpointEntry(url=A, group="nvidia", capacity=3000),
            EndpointEntry(url=B, group="amd", capacity=2000),
            EndpointEntry(url=C, group="gaudi", capacity=600),
        ]
    )
    return picker


def in_flight(picker: EndpointPicker) -> dict[str, int]:
    return {st.url: st.in_flight for st in picker.pool.states()}


def test_pick_answers_ip_port_with_ordered_fallbacks_least_loaded_first() -> None:
    picker = make_picker()
    first = picker.pick("/v1/completions", BODY)
    assert first.addresses[0] == address_of(first.url)
    second = picker.pick("/v1/completions", BODY)
    assert len(second.addresses) == 3 and len(set(second.addresses)) == 3
    # the fallback after the primary is the endpoint with most free capacity (not the busy first pick)
    assert second.addresses[1] != address_of(first.url)


def test_load_is_held_until_the_stream_ends_and_moves_when_a_retry_served_elsewhere() -> None:
    picker = make_picker()
    d = picker.pick("/v1/completions", BODY)
    first = d.url
    assert in_flight(picker)[first] == 1
    other = next(u for u in (A, B, C) if u != first)
    picker.response_started(d, address_of(other), 200)
    assert in_flight(picker)[first] == 0 and in_flight(picker)[other] == 1
    picker.finished(d)
    picker.finished(d)  # idempotent: the stream end may be seen twice
    assert set(in_flight(picker).values()) == {0}


def test_queued_prefill_counts_only_what_the_prefix_index_expects_uncached() -> None:
    import json

    picker = make_picker(policy="heteropool")
    prompt = "x" * 8000  # 2000 estimated tokens
    body = json.dumps({"model": "m", "prompt": prompt, "max_tokens": 8}).encode()
    first = picker.pick("/v1/completions", body)
    picker.response_started(first, address_of(first.url), 200)
    picker.finished(first)
    again = picker.pick(
        "/v1/completions", json.dumps({"model": "m", "prompt": prompt + " more", "max_tokens": 8}).encode()
    )
    view = picker.pool.get(again.url).view  # type: ignore[union-attr]
    assert again.url == first.url and view.queued_prompt_tokens == 2001
    # credited in whole blocks: 7936 of the 8005 characters are cached there, the rest is to prefill
    assert view.queued_prefill_tokens == round(2001 * (1 - 7936 / 8005))
    picker.response_started(again, address_of(again.url), 200)
    view = picker.pool.get(again.url).view  # type: ignore[union-attr]
    assert (view.queued_prompt_tokens, view.queued_prefill_tokens) == (0, 0)


def test_subset_hint_restricts_candidates_and_an_unmatched_hint_is_503() -> None:
    picker = make_picker(fallbacks=2)
    d = picker.pick("/v1/completions", BODY, frozenset({"10.0.0.2:8000"}))
    assert d.url == B and d.addresses == ["10.0.0.2:8000"]
    for hint in (frozenset(), frozenset({"10.9.9.9:1"})):
        with pytest.raises(PickError) as err:
            picker.pick("/v1/completions", BODY, hint)
        assert err.value.status == 503


def test_bad_bodies_are_400_naming_the_field() -> None:
    picker = make_picker()
    cases = {
        b"{nope": "request body is not valid JSON",
        b"[]": "request body must be a JSON object, got list",
        b'{"prompt": 5}': "prompt: expected a string or a list, got int",
        b'{"prompt": "x", "max_tokens": "8"}': "max_tokens: expected a non-negative integer, got '8'",
        b"": "request body is empty",
    }
    for body, message in cases.items():
        with pytest.raises(PickError) as err:
            picker.pick("/v1/completions", body)
        assert err.value.status == 400 and message in str(err.value), body
    with pytest.raises(PickError) as err:
        picker.pick(
            "/v1/chat/completions", b'{"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}'
        )
    assert str(err.value) == "messages[0].content[0].text: expected a string, got int"
    assert set(in_flight(picker).values()) == {0}


def test_non_inference_paths_are_routed_without_a_body() -> None:
    assert make_picker().pick("/v1/models", b"").addresses


def test_saturated_pool_is_429_with_retry_after_and_empty_pool_is_503() -> None:
    picker = make_picker(max_in_flight=1)
    for _ in range(3):
        picker.pick("/v1/completions", BODY)
    with pytest.raises(PickError) as err:
        picker.pick("/v1/completions", BODY)
    assert (err.value.status, err.value.retry_after) == (429, 1)
    picker.apply_endpoints([])
    with pytest.raises(PickError) as err:
        picker.pick("/v1/completions", BODY)
    assert err.value.status == 503


def test_api_key_is_required_when_configured() -> None:
    picker = make_picker(api_key="k")
    picker.authorize("Bearer k")
    for bad in (None, "Bearer x", "k"):
        with pytest.raises(PickError) as err:
            picker.authorize(bad)
        assert err.value.status == 401


def test_repeated_5xx_eject_the_endpoint_and_its_series_go_when_it_leaves() -> None:
    picker = make_picker()
    for _ in range(3):
        d = picker.pick("/v1/completions", BODY, frozenset({"10.0.0.1:8000"}))
        picker.response_started(d, None, 503)
        picker.finished(d)
    assert picker.pool.ejected() == [A]
    with pytest.raises(PickError):
        picker.pick("/v1/completions", BODY, frozenset({"10.0.0.1:8000"}))
    text = _exposition(picker)
    assert 'endpoint="http://10.0.0.1:8000"' in text
    picker.apply_endpoints([EndpointEntry(url=B, group="amd")])
    assert 'endpoint="http://10.0.0.1:8000"' not in _exposition(picker)


def _exposition(picker: EndpointPicker) -> str:
    from prometheus_client import generate_latest

    return generate_latest(picker.metrics.registry).decode()
