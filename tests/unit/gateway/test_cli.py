"""`heteropool gateway` command line: bad input fails fast with exit 2 and a message naming it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from heteropool.gateway import cli


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--parameters", '{"capacity-load-scorer": {"spillAbz": 1}}'], "spillAbz"),
        (["--parameters", "[1, 2]"], "--parameters: expected a mapping"),
        (["--max-retries", "-1"], "max_retries"),
    ],
    ids=["unknown-parameter", "not-a-mapping", "out-of-range"],
)
def test_bad_settings_exit_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    eps = tmp_path / "e.yaml"
    eps.write_text("- {url: 'http://127.0.0.1:1', vendor: nvidia}\n")
    assert cli.run(_args("--port", "0", "--endpoints", str(eps), *extra)) == 2
    assert message in capsys.readouterr().err


def test_broken_endpoint_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eps = tmp_path / "e.yaml"
    eps.write_text("- {url: 'ftp://x', vendor: nvidia}\n")
    assert cli.run(_args("--port", "0", "--endpoints", str(eps))) == 2
    assert "e.yaml[0.url]" in capsys.readouterr().err
