import pytest

from heteropool.sim.blocks import PrefixHasher, hash_blocks
from heteropool.sim.tokenizer import Tokenizer


def _text(n: int, salt: str = "w") -> str:
    return "".join(f" {salt}{i % 97}" for i in range(n))


@pytest.mark.parametrize("block_size", [16, 128], ids=["gpu-16", "gaudi-128"])
def test_segment_hashing_equals_hashing_the_whole_prompt(block_size: int) -> None:
    hasher = PrefixHasher(Tokenizer(), block_size)
    system, question = _text(1000), _text(300, "q")
    by_segments = hasher.of_segments([system, question])
    whole = hasher.of_text(system + question)
    assert by_segments == whole
    assert len(whole.hashes) == whole.num_tokens // block_size


def test_shared_prefix_shares_leading_hashes_then_diverges() -> None:
    hasher = PrefixHasher(Tokenizer(), 16)
    system = _text(320)
    a = hasher.of_segments([system, _text(64, "a")])
    b = hasher.of_segments([system, _text(64, "b")])
    assert a.hashes[:20] == b.hashes[:20]
    assert a.hashes[20] != b.hashes[20]


def test_only_full_blocks_are_hashed() -> None:
    assert len(hash_blocks(list(range(47)), 16)) == 2
    assert hash_blocks(list(range(15)), 16) == []


def test_hashes_chain_so_equal_blocks_after_different_prefixes_differ() -> None:
    block = list(range(16))
    assert hash_blocks([1] * 16 + block, 16)[1] != hash_blocks([2] * 16 + block, 16)[1]
