"""`heteropool epp` command line: bad input fails fast with exit 2 and a message naming it."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from heteropool.epp import cli


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def endpoints(tmp_path: Path) -> Path:
    eps = tmp_path / "e.yaml"
    eps.write_text("- {url: 'http://127.0.0.1:1', group: nvidia}\n")
    return eps


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--parameters", '{"capacity-load-scorer": {"spillAbz": 1}}'], "spillAbz"),
        (["--parameters", "[1, 2]"], "--parameters: expected a mapping"),
        (["--fallbacks", "-1"], "--fallbacks: must be >= 0"),
        (["--tls-cert", "/nonexistent.pem"], "--tls-cert and --tls-key go together"),
        (["--api-key-file", "/nonexistent"], "/nonexistent"),
        (["--log-level", "LOUD"], "log level"),
    ],
    ids=["unknown-parameter", "not-a-mapping", "negative-fallbacks", "cert-without-key", "missing-key-file", "level"],
)
def test_bad_settings_exit_2_naming_the_problem(
    endpoints: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert cli.run(_args("--port", "0", "--endpoints", str(endpoints), *extra)) == 2
    assert message in capsys.readouterr().err


def test_broken_endpoint_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    eps = tmp_path / "e.yaml"
    eps.write_text("- {url: 'ftp://x', group: nvidia}\n")
    assert cli.run(_args("--port", "0", "--endpoints", str(eps))) == 2
    assert "e.yaml[0].url" in capsys.readouterr().err


def test_exactly_one_endpoint_source(endpoints: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_args()) == 2
    assert cli.run(_args("--endpoints", str(endpoints), "--kube-pool", "p")) == 2
    assert "exactly one endpoint source" in capsys.readouterr().err


def test_a_busy_port_is_a_clear_error_not_a_traceback(endpoints: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.run(_args("--port", str(port), "--endpoints", str(endpoints))) == 2
    err = capsys.readouterr().err
    assert f"--port: 127.0.0.1:{port} is already in use" in err and "Traceback" not in err
