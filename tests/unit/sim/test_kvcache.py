from heteropool.sim.kvcache import BlockPool


def test_released_blocks_stay_cached_until_space_is_needed() -> None:
    pool = BlockPool(4)
    pool.allocate(2)
    pool.promote(11)
    pool.promote(12)
    pool.release([11, 12])
    assert pool.used == 0 and pool.num_cached == 2
    assert pool.match([11, 12], 2) == (2, 2)
    pool.allocate(3)  # 2 free + 1 evicted
    assert pool.num_cached == 1


def test_eviction_takes_the_tail_of_a_released_prompt_first() -> None:
    pool = BlockPool(3)
    pool.allocate(3)
    for h in (1, 2, 3):
        pool.promote(h)
    pool.release([1, 2, 3])
    pool.allocate(1)
    assert pool.match([1, 2, 3], 3) == (2, 2)  # block 3 (the tail) went first


def test_acquired_blocks_are_not_evictable() -> None:
    pool = BlockPool(2)
    pool.allocate(1)
    pool.promote(7)
    pool.release([7])
    pool.acquire([7])
    assert pool.available == 1 and pool.usage() == 0.5


def test_promoting_a_block_someone_else_cached_shares_it() -> None:
    pool = BlockPool(4)
    pool.allocate(2)
    pool.promote(5)
    pool.promote(5)
    assert pool.used == 1
