import pytest

from heteropool.scheduling.waiting import WaitQueue


def test_highest_priority_first_then_arrival_order() -> None:
    q: WaitQueue[str] = WaitQueue()
    for item, priority in [("low1", -1), ("std", 0), ("high1", 5), ("low2", -1), ("high2", 5)]:
        assert q.push(item, priority, now=0.0) == (True, None)
    assert q.head() == ("high1", 5)
    assert [q.pop() for _ in range(len(q))] == ["high1", "high2", "std", "low1", "low2"]
    assert q.head() is None and not q


def test_requests_that_waited_too_long_expire_and_others_stay() -> None:
    q: WaitQueue[str] = WaitQueue(max_wait_s=2.0)
    q.push("old", -1, now=0.0)
    q.push("new", -1, now=1.5)
    q.push("high", 1, now=0.5)
    assert q.expire(now=2.0) == []
    assert sorted(q.expire(now=2.6)) == ["high", "old"]
    assert list(q) == ["new"]


def test_a_full_queue_refuses_equal_or_lower_priority_and_displaces_for_higher() -> None:
    q: WaitQueue[str] = WaitQueue(max_length=2)
    q.push("a", -1, now=0.0)
    q.push("b", -1, now=0.1)
    assert q.push("c", -1, now=0.2) == (False, None)
    assert q.push("d", -5, now=0.2) == (False, None)
    assert q.push("urgent", 3, now=0.3) == (True, "b")  # the newest of the lowest priority gives way
    assert list(q) == ["urgent", "a"]


def test_a_cancelled_request_leaves_the_queue() -> None:
    q: WaitQueue[object] = WaitQueue()
    a, b = object(), object()
    q.push(a, 0, now=0.0)
    q.push(b, 0, now=0.0)
    assert q.remove(a) and not q.remove(a)
    assert list(q) == [b] and len(q) == 1


def test_a_queue_without_room_or_time_queues_nothing() -> None:
    assert WaitQueue[str](max_length=0).push("x", 1, now=0.0) == (False, None)
    assert WaitQueue[str](max_wait_s=0).push("x", 1, now=0.0) == (False, None)
    with pytest.raises(ValueError, match="max_wait_s"):
        WaitQueue[str](max_wait_s=-1)
