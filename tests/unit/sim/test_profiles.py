import pytest

from heteropool.sim.profiles import PROFILE_NAMES, ProfileError, build_profile, size_class_for_model
from heteropool.vendors import ACCELERATOR_CAPACITY_TOKENS_PER_S, ACCELERATOR_PREFILL_TOKENS_PER_S


def test_required_profiles_exist() -> None:
    assert {"h100-nvl", "h100-sxm", "mi300x", "mi325x", "gaudi2", "gaudi3", "cpu"} <= set(PROFILE_NAMES)


@pytest.mark.parametrize(("name", "block_size"), [("h100-nvl", 16), ("mi325x", 16), ("gaudi3", 128)])
def test_default_block_size_is_the_vllm_platform_default(name: str, block_size: int) -> None:
    assert build_profile(name).block_size == block_size


def test_30b_class_is_slower_and_holds_fewer_tokens() -> None:
    small, big = build_profile("h100-nvl", "8b"), build_profile("h100-nvl", "30b")
    assert big.prefill_token_s > small.prefill_token_s
    assert big.kv_capacity_tokens < small.kv_capacity_tokens


def test_unknown_profile_lists_known_ones() -> None:
    with pytest.raises(ProfileError, match="h100-nvl"):
        build_profile("a100")


@pytest.mark.parametrize(
    ("model", "size"),
    [("ibm-granite/granite-4.1-8b", "8b"), ("Qwen/Qwen3-32B", "30b"), ("Qwen3-30B-A3B", "30b"), ("tiny", "8b")],
)
def test_size_class_is_guessed_from_the_model_name(model: str, size: str) -> None:
    assert size_class_for_model(model) == size


def test_capacity_priors_rank_vendors_as_calibrated() -> None:
    names = ("h100-nvl", "mi325x", "gaudi3")
    decode = {n: build_profile(n).decode_tokens_per_s(context_tokens=7700) for n in names}
    prefill = {n: build_profile(n).prefill_tokens_per_s(7200) for n in names}
    assert sorted(names, key=decode.get) == sorted(names, key=ACCELERATOR_CAPACITY_TOKENS_PER_S.get)
    assert sorted(names, key=prefill.get) == sorted(names, key=ACCELERATOR_PREFILL_TOKENS_PER_S.get)


def test_kv_capacity_follows_the_dtype_and_memory_flags() -> None:
    bf16 = build_profile("h100-nvl")
    assert build_profile("h100-nvl", kv_cache_dtype="fp8").kv_capacity_tokens == pytest.approx(
        2 * bf16.kv_capacity_tokens, rel=0.01
    )  # granite-4.1-8b: 160 KiB per token in BF16, 80 KiB in FP8
    assert build_profile("h100-nvl", gpu_memory_utilization=0.85).kv_capacity_tokens < bf16.kv_capacity_tokens
    assert build_profile("gaudi3", dtype="bfloat16") == build_profile("gaudi3")  # auto is the checkpoint's BF16


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"dtype": "int4"}, "--dtype"),
        ({"kv_cache_dtype": "fp4"}, "--kv-cache-dtype"),
        ({"gpu_memory_utilization": 1.5}, "--gpu-memory-utilization"),
    ],
)
def test_bad_flags_name_the_flag(kwargs: dict[str, object], flag: str) -> None:
    with pytest.raises(ProfileError, match=flag):
        build_profile("h100-nvl", **kwargs)  # type: ignore[arg-type]
