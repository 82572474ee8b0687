"""The emulator as its own process, reachable through a kubeconfig (for `kopf run`, kubectl).

    .venv/bin/heteropool-kube-emulator --port 0 --crds crds/ --kubeconfig OUT [--port-file F]

prints `listening on http://127.0.0.1:PORT` once the kubeconfig is written, and serves until
SIGTERM/SIGINT. `start_server_process()` runs it from tests and waits for that line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import kmock

from .emulator import REPO_CRDS, ApiServerEmulator
from .kubeconfig import write_kubeconfig

# The console script tests/support/pyproject.toml installs beside this interpreter.
SERVER_COMMAND = Path(sys.executable).with_name("heteropool-kube-emulator")


@attrs.define
class ServerProcess:
    """A running standalone emulator; `stop()` it (the fixture does)."""

    process: subprocess.Popen[str]
    url: str
    port: int
    kubeconfig_path: Path
    output: list[str] = attrs.field(factory=list)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.output += self.process.stdout.read().splitlines()
            self.process.stdout.close()


def start_server_process(
    kubeconfig_path: Path, crd_paths: list[Path] | None = None, *, timeout: float = 20.0
) -> ServerProcess:
    """Start the emulator's command and wait (up to `timeout` s) until it reports its URL."""
    crds = [REPO_CRDS] if crd_paths is None else crd_paths
    cmd = [str(SERVER_COMMAND), "--port", "0", "--kubeconfig", str(kubeconfig_path)]
    for path in crds:
        cmd += ["--crds", str(path)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if not ready:
            break
        line = process.stdout.readline()
        if not line:  # EOF: the server died
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("listening on "):
            url = line.split()[-1]
            return ServerProcess(process, url, int(url.rsplit(":", 1)[1]), kubeconfig_path, lines)
    process.kill()
    rest = process.communicate()[0]
    raise RuntimeError("emulator server did not start:\n" + "\n".join(lines) + (rest or ""))


async def serve(*, host: str, port: int, crds: list[Path], kubeconfig: Path | None, port_file: Path | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emulator = ApiServerEmulator(crd_paths=crds)
    async with emulator, kmock.Server(emulator, host=host, port=port or None) as server:
        url = f"http://{host}:{server.port}"
        if kubeconfig is not None:
            emulator.kubeconfig_path = write_kubeconfig(kubeconfig, url)
        if port_file is not None:
            port_file.write_text(str(server.port), encoding="utf-8")
        print(f"listening on {url}", flush=True)
        await stop.wait()
        emulator.close_watches()
        await asyncio.sleep(0)  # let the watch handlers see the close before the server stops


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--crds", type=Path, action="append", help=f"CRD file or folder, repeatable (default: {REPO_CRDS})"
    )
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for the server here")
    parser.add_argument("--port-file", type=Path, help="write the chosen port here")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                crds=args.crds or [REPO_CRDS],
                kubeconfig=args.kubeconfig,
                port_file=args.port_file,
            )
        )


if __name__ == "__main__":
    main()
