from heteropool.fleet.workloads import (
    HIGH_PRIORITY,
    LOW_PRIORITY,
    ChatWorkload,
    LoadStage,
    MixedPriorityWorkload,
    RandomWorkload,
    SharedPrefixWorkload,
    build_stage_items,
    qps_ladder,
)
from heteropool.sim.blocks import PrefixHasher
from heteropool.sim.tokenizer import Tokenizer


def test_shared_prefix_prompts_have_the_exact_token_lengths() -> None:
    wl = SharedPrefixWorkload(groups=3, prompts_per_group=2, system_prompt_len=600, question_len=120, output_len=50)
    (items,) = build_stage_items(wl, [LoadStage(20, 2.0)], seed=1)
    hasher = PrefixHasher(Tokenizer(), 16)
    assert items and all(hasher.of_segments(i.segments).num_tokens == 720 for i in items)
    assert all(i.max_tokens == 50 and i.prompt == "".join(i.segments) for i in items)


def test_shared_system_prompts_are_the_same_string_objects() -> None:
    wl = SharedPrefixWorkload(groups=1, prompts_per_group=5, system_prompt_len=100, question_len=10)
    (items,) = build_stage_items(wl, [LoadStage(50, 1.0)], seed=0)
    assert len({id(i.segments[0]) for i in items}) == 1


def test_same_seed_gives_the_same_arrivals_and_prompts() -> None:
    stages = qps_ladder(5, 15, 5, 3.0)
    a = build_stage_items(SharedPrefixWorkload(groups=4, seed=3), stages, seed=7)
    b = build_stage_items(SharedPrefixWorkload(groups=4, seed=3), stages, seed=7)
    c = build_stage_items(SharedPrefixWorkload(groups=4, seed=3), stages, seed=8)
    assert a == b and a != c


def test_ladder_and_poisson_rate() -> None:
    stages = qps_ladder(5, 85, 10, 25.0)
    assert [s.qps for s in stages] == [5, 15, 25, 35, 45, 55, 65, 75, 85]
    (items,) = build_stage_items(RandomWorkload(input_len=8, output_len=4), [LoadStage(100, 50.0)], seed=0)
    assert len(items) == 5000  # inference-perf sends exactly rate x duration requests
    per_second = [sum(1 for i in items if s <= i.offset_s < s + 1) for s in range(int(items[-1].offset_s) + 1)]
    assert 80 < sum(per_second[:50]) / 50 < 120 and min(per_second) < max(per_second)  # Poisson counts


def test_every_stage_walks_the_shuffled_prompt_list_from_its_start() -> None:
    wl = SharedPrefixWorkload(groups=4, prompts_per_group=3, system_prompt_len=20, question_len=5)
    first, second = build_stage_items(wl, [LoadStage(10, 2.0), LoadStage(8, 2.0)], seed=0)
    prompts = [i.prompt for i in first]
    assert len(set(prompts[:12])) == 12 and prompts[12:] == prompts[:8]  # all 12, then wrap around
    assert [i.prompt for i in second] == prompts[:16]  # the next stage starts over
    groups = [i.segments[0] for i in first[:12]]
    assert groups != sorted(groups, key=groups.index)  # shuffled, not group after group


def test_random_prompts_do_not_repeat() -> None:
    (items,) = build_stage_items(RandomWorkload(input_len=64), [LoadStage(50, 1.0)], seed=0)
    assert len({i.prompt for i in items}) == len(items)


def test_chat_turns_extend_their_session_history() -> None:
    wl = ChatWorkload(sessions=1, turns=3, system_prompt_len=50, user_len=10, output_len=5)
    (items,) = build_stage_items(wl, [LoadStage(100, 0.05)], seed=0)
    first, second = items[0], items[1]
    assert second.prompt.startswith(first.prompt)
    assert len(second.segments) == len(first.segments) + 2  # + answer + new user turn


def test_mixed_priority_is_short_high_priority_chat_and_long_low_priority_batch() -> None:
    wl = MixedPriorityWorkload(seed=2)
    (items,) = build_stage_items(wl, [LoadStage(50, 20.0)], seed=2)
    hasher = PrefixHasher(Tokenizer(), 16)
    high = [i for i in items if i.priority == HIGH_PRIORITY]
    low = [i for i in items if i.priority == LOW_PRIORITY]
    assert len(high) + len(low) == len(items) and 0.15 < len(high) / len(items) < 0.25
    assert {hasher.of_segments(i.segments).num_tokens for i in high} == {600}
    assert {hasher.of_segments(i.segments).num_tokens for i in low} == {5200}
    assert {i.max_tokens for i in high} == {150} and {i.max_tokens for i in low} == {400}
    # each document is asked 4 consecutive questions: batch prompts share their document 4 times
    docs = [i.segments[0] for i in low]
    assert all(docs.count(d) <= 4 for d in docs) and len(set(docs)) <= len(docs) // 4 + 2
