"""An in-memory Kubernetes API server for operator tests (kmock + apiserver semantics)."""

from .emulator import REPO_CRDS, ApiServerEmulator
from .faults import Fault, WriteLog, WriteRecord
from .kubeconfig import write_kubeconfig
from .server import ServerProcess, start_server_process
from .wire import parse_target

__all__ = [
    "REPO_CRDS",
    "ApiServerEmulator",
    "Fault",
    "ServerProcess",
    "WriteLog",
    "WriteRecord",
    "parse_target",
    "start_server_process",
    "write_kubeconfig",
]
