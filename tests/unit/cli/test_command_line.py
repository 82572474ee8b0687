"""The command line a platform team meets: help on every flag, no secret on argv, and a clear
error (not a traceback) when a port is taken."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from heteropool import cli

BIN = Path(sys.executable).with_name("heteropool")


@pytest.mark.parametrize("command", sorted(cli._COMMANDS))
def test_every_flag_has_help(command: str) -> None:
    parser = cli.build_parser(command)
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    missing = [a.option_strings or a.dest for a in sub._actions if a.dest != "help" and not (a.help or "").strip()]
    assert missing == []


def test_the_picker_takes_its_api_key_from_a_file_or_the_environment_never_argv() -> None:
    parser = cli.build_parser("epp")
    with pytest.raises(SystemExit):
        parser.parse_args(["epp", "--api-key", "s3cret"])  # no flag puts a secret in `ps`
    args = parser.parse_args(["epp", "--api-key-file", "/run/secrets/key"])
    assert args.api_key_file == "/run/secrets/key"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["operator", "--bind", "127.0.0.1", "--liveness-port", "0", "--metrics-port", "{port}"], "--metrics-port"),
        (["operator", "--bind", "127.0.0.1", "--metrics-port", "0", "--liveness-port", "{port}"], "--liveness-port"),
        (["sim", "--port", "{port}"], "--port"),
        (["epp", "--port", "{port}", "--endpoints", "/dev/null"], "--port"),
    ],
    ids=["operator-metrics", "operator-liveness", "sim", "epp"],
)
def test_a_busy_port_is_a_clear_error_not_a_traceback(busy_port: int, argv: list[str], flag: str) -> None:
    args = [a.format(port=busy_port) for a in argv]
    out = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert f"{flag}: 127.0.0.1:{busy_port} is already in use" in out.stderr
