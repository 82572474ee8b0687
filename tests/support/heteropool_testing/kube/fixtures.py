"""pytest fixtures: the emulator in-process (same event loop as the test) or as a process."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import kmock
import pytest
import pytest_asyncio

from .emulator import ApiServerEmulator, crd_paths_or_default
from .kubeconfig import write_kubeconfig
from .server import ServerProcess, start_server_process

EmulatorFactory = Callable[..., Awaitable[ApiServerEmulator]]
ProcessFactory = Callable[..., ServerProcess]


@pytest_asyncio.fixture
async def kube_emulator_factory(tmp_path: Path) -> AsyncIterator[EmulatorFactory]:
    """`await kube_emulator_factory(crd_paths=[...], auto_namespaces=True)` -> a served emulator.

    `crd_paths=None` loads the repository's `crds/`. Each emulator listens on 127.0.0.1 (random
    port, `.url`) and has `.kubeconfig_path`. At teardown, a test fails if the emulator itself
    hit an internal error (a harness bug, answered as 500 to the client).
    """
    counter = itertools.count()
    emulators: list[ApiServerEmulator] = []
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *, crd_paths: Sequence[Path | str] | None = None, auto_namespaces: bool = True
        ) -> ApiServerEmulator:
            emulator = ApiServerEmulator(crd_paths=crd_paths_or_default(crd_paths), auto_namespaces=auto_namespaces)
            await stack.enter_async_context(emulator)
            await stack.enter_async_context(kmock.Server(emulator))
            stack.callback(emulator.close_watches)
            emulator.kubeconfig_path = write_kubeconfig(
                tmp_path / f"kubeconfig-{next(counter)}.yaml", str(emulator.url)
            )
            emulators.append(emulator)
            return emulator

        yield start
    errors = [exc for emulator in emulators for exc in emulator.internal_errors]
    if errors:
        pytest.fail(f"the API emulator failed internally: {errors!r}")


@pytest_asyncio.fixture
async def kube_emulator(kube_emulator_factory: EmulatorFactory) -> ApiServerEmulator:
    """An emulator with the repository's CRDs (`crds/`) loaded."""
    return await kube_emulator_factory()


@pytest.fixture
def kube_server_process(tmp_path: Path) -> Iterator[ProcessFactory]:
    """`kube_server_process(crd_paths=[...])` -> a `ServerProcess` (url, port, kubeconfig_path)."""
    processes: list[ServerProcess] = []
    counter = itertools.count()

    def start(*, crd_paths: Sequence[Path | str] | None = None) -> ServerProcess:
        kubeconfig = tmp_path / f"server-kubeconfig-{next(counter)}.yaml"
        paths = None if crd_paths is None else [Path(p) for p in crd_paths]
        process = start_server_process(kubeconfig, paths)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.stop()
