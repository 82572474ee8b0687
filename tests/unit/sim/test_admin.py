import pytest

from heteropool.sim.admin import AdminConfigError, FaultState


def test_updates_merge_and_defaults_restore() -> None:
    faults = FaultState()
    assert faults.update({"slowdown": 2.0}).slowdown == 2.0
    cfg = faults.update({"error_rate": 0.5})
    assert (cfg.slowdown, cfg.error_rate) == (2.0, 0.5)
    cfg = faults.update({"slowdown": 1.0, "error_rate": 0})
    assert (cfg.slowdown, cfg.error_rate, cfg.draining) == (1.0, 0.0, False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"error_rate": 2}, "error_rate"),
        ({"slowdown": 0}, "slowdown"),
        ({"slowdwn": 2}, "slowdwn"),
        ({"error_mode": "boom"}, "error_mode"),
    ],
    ids=["rate-above-1", "zero-slowdown", "typo", "unknown-mode"],
)
def test_bad_updates_name_the_field_and_change_nothing(body: dict[str, object], field: str) -> None:
    faults = FaultState()
    with pytest.raises(AdminConfigError, match=field):
        faults.update(body)
    assert faults.config.slowdown == 1.0 and faults.config.error_rate == 0.0


def test_error_rate_fails_about_that_fraction_deterministically() -> None:
    a, b = FaultState(seed=1), FaultState(seed=1)
    for f in (a, b):
        f.update({"error_rate": 0.3, "error_mode": "reset"})
    draws = [a.draw() for _ in range(1000)]
    assert draws == [b.draw() for _ in range(1000)]
    assert 250 < draws.count("reset") < 350 and set(draws) == {"reset", "none"}
