import argparse

import pytest

from heteropool.fleet import cli


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_simulate_prints_one_row_per_stage(capsys: pytest.CaptureFixture[str]) -> None:
    args = _args("--pool", "h100-nvl=1,gaudi3=1", "--policy", "round-robin", "--workload", "random",
                 "--ladder", "1:3:2", "--stage-s", "3")
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert "round-robin on 1x h100-nvl, 1x gaudi3" in out
    assert sum(1 for line in out.splitlines() if line.startswith("| 1 ") or line.startswith("| 3 ")) == 2


@pytest.mark.parametrize("argv", [["--pool", "h100-nvl"], ["--ladder", "5:1:1"]], ids=["no-count", "bad-ladder"])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        _args(*argv)


def test_unknown_profile_or_policy_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_args("--pool", "a100=1", "--ladder", "1:1:1", "--stage-s", "1")) == 2
    assert cli.run(_args("--policy", "fastest", "--pool", "cpu=1", "--ladder", "1:1:1", "--stage-s", "1")) == 2
    assert "unknown" in capsys.readouterr().err
