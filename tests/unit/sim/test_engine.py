import random
from collections import Counter
from collections.abc import Callable

import pytest

from heteropool.sim.engine import Engine, RequestRejectedError

from .conftest import run_to_idle

MakeEngine = Callable[..., Engine]


def _hashes(prefix: int, n_blocks: int) -> list[int]:
    """Distinct-per-prefix chained block ids (stand-ins for real block hashes)."""
    return [hash((prefix, i)) for i in range(n_blocks)]


def test_single_request_gets_first_token_after_prefill_and_all_tokens(make_engine: MakeEngine) -> None:
    eng = make_engine()
    eng.add_request("a", 100, _hashes(1, 6), max_tokens=5)
    steps = run_to_idle(eng)
    assert steps[0][1].first_tokens == ("a",)
    assert steps[0][1].num_prefill_tokens == 100
    assert sum(r.tokens.count("a") for _, r in steps) == 5
    (fin,) = [f for _, r in steps for f in r.finished]
    assert (fin.generation_tokens, fin.finish_reason, fin.prompt_tokens) == (5, "length", 100)
    assert eng.kv_usage() == 0.0 and not eng.has_work()


def test_repeated_prompt_hits_prefix_cache_and_prefills_only_the_rest(make_engine: MakeEngine) -> None:
    eng = make_engine()
    eng.add_request("a", 100, _hashes(1, 6), max_tokens=2)
    first = run_to_idle(eng)[0][1]
    eng.add_request("b", 100, _hashes(1, 6), max_tokens=2)
    second = run_to_idle(eng)
    (fin,) = [f for _, r in second for f in r.finished]
    assert fin.cached_tokens == 96  # 6 full blocks of 16
    assert second[0][1].num_prefill_tokens == 4
    assert second[0][1].duration_s < first.duration_s
    assert eng.stats.prefix_cache_hits == 96 and eng.stats.prefix_cache_queries == 200


def test_full_hit_still_recomputes_the_last_token(make_engine: MakeEngine) -> None:
    eng = make_engine()
    eng.add_request("a", 64, _hashes(1, 4), max_tokens=1)
    run_to_idle(eng)
    eng.add_request("b", 64, _hashes(1, 4), max_tokens=1)
    ((_, res),) = run_to_idle(eng)
    assert res.num_prefill_tokens == 16  # last block recomputed, as vLLM does


def test_long_prompt_is_prefilled_in_chunks_of_the_token_budget(make_engine: MakeEngine) -> None:
    eng = make_engine(max_num_batched_tokens=512)
    eng.add_request("a", 1200, _hashes(1, 75), max_tokens=1)
    steps = run_to_idle(eng)
    assert [r.num_prefill_tokens for _, r in steps] == [512, 512, 176]
    assert steps[-1][1].first_tokens == ("a",)


def test_running_batch_never_exceeds_max_num_seqs(make_engine: MakeEngine) -> None:
    eng = make_engine(max_num_seqs=4)
    for i in range(10):
        eng.add_request(f"r{i}", 20, [], max_tokens=30)
    peak = 0
    while (res := eng.step()) is not None:
        peak = max(peak, eng.num_running)
        assert res.num_decode_seqs <= 4
    assert peak == 4


def test_kv_exhaustion_preempts_newest_and_everyone_still_finishes(make_engine: MakeEngine) -> None:
    eng = make_engine(num_gpu_blocks=40, max_num_seqs=16)
    for i in range(8):
        eng.add_request(f"r{i}", 64, _hashes(i, 4), max_tokens=100)
    steps = run_to_idle(eng)
    finished = {f.request_id: f for _, r in steps for f in r.finished}
    assert eng.stats.preemptions > 0
    assert all(f.generation_tokens == 100 for f in finished.values()) and len(finished) == 8
    assert any(f.num_preemptions for f in finished.values())
    assert eng.kv_usage() == 0.0


def test_decode_step_time_grows_with_batch_and_context(make_engine: MakeEngine) -> None:
    eng = make_engine()
    prof = eng.config.profile
    for i in range(3):
        eng.add_request(f"r{i}", 100, [], max_tokens=10)
    eng.step()  # prefill of all three
    res = eng.step()
    assert res is not None and res.num_decode_seqs == 3 and res.num_prefill_tokens == 0
    expected = prof.step_base_s + 3 * prof.decode_seq_s + prof.ctx_token_s * 3 * 101
    assert res.duration_s == pytest.approx(expected)


def test_unreferenced_cached_blocks_are_evicted_lru_for_new_prompts(make_engine: MakeEngine) -> None:
    eng = make_engine(num_gpu_blocks=10)
    eng.add_request("old", 64, _hashes(1, 4), max_tokens=1)
    run_to_idle(eng)
    eng.add_request("new", 128, _hashes(2, 8), max_tokens=1)
    run_to_idle(eng)
    eng.add_request("old-again", 64, _hashes(1, 4), max_tokens=1)
    (fin,) = [f for _, r in run_to_idle(eng) for f in r.finished]
    assert fin.cached_tokens < 48  # part of the old prompt was evicted


@pytest.mark.parametrize(
    ("prompt", "max_tokens", "match"),
    [(100_000, 100_000, "maximum context length"), (10, 0, "max_tokens"), (0, 5, "at least one token")],
    ids=["too-long", "zero-max-tokens", "empty-prompt"],
)
def test_impossible_requests_are_rejected(make_engine: MakeEngine, prompt: int, max_tokens: int, match: str) -> None:
    eng = make_engine()
    with pytest.raises(RequestRejectedError, match=match):
        eng.add_request("x", prompt, [], max_tokens)


def test_abort_frees_the_request_and_its_blocks(make_engine: MakeEngine) -> None:
    eng = make_engine()
    eng.add_request("a", 100, _hashes(1, 6), max_tokens=50)
    eng.add_request("b", 100, _hashes(2, 6), max_tokens=50)
    eng.step()
    eng.step()
    fin = eng.abort("a")
    assert fin is not None and fin.finish_reason == "abort" and fin.generation_tokens == 2
    assert eng.abort("a") is None
    run_to_idle(eng)
    assert eng.kv_usage() == 0.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_load_keeps_every_invariant(make_engine: MakeEngine, seed: int) -> None:
    rng = random.Random(seed)
    eng = make_engine(num_gpu_blocks=120, max_num_seqs=12, max_num_batched_tokens=256)
    wanted: dict[str, int] = {}
    tokens: Counter[str] = Counter()
    firsts: Counter[str] = Counter()
    finished: dict[str, int] = {}
    n = 0
    for _ in range(3000):
        if n < 60 and rng.random() < 0.3:
            prompt = rng.randint(1, 400)
            group = rng.randrange(4)
            eng.add_request(f"r{n}", prompt, _hashes(group, prompt // 16), max_tokens=(mt := rng.randint(1, 80)))
            wanted[f"r{n}"] = mt
            n += 1
        res = eng.step()
        if res is None:
            continue
        assert eng.num_running <= 12 and 0.0 <= eng.kv_usage() <= 1.0
        assert len(set(res.tokens)) == len(res.tokens)
        tokens.update(res.tokens)
        firsts.update(res.first_tokens)
        for f in res.finished:
            finished[f.request_id] = f.generation_tokens
    run_to_idle(eng)
    assert finished == wanted and dict(tokens) == wanted
    assert set(firsts) == set(wanted) and max(firsts.values()) == 1
    assert eng.stats.generation_tokens == sum(wanted.values())
    assert eng.kv_usage() == 0.0
