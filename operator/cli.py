"""The `heteropool` command: one entry point, one subcommand per component.

Each subcommand lives next to the component it starts and exposes two functions:
`add_arguments(parser)` and `run(args) -> int`. They are imported only when chosen, so
`heteropool render` never pays for the gateway's or the simulator's imports.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# name -> (module holding add_arguments/run, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "render": ("heteropool.commands.render", "print the Kubernetes objects a pool manifest renders to"),
    "crd": ("heteropool.commands.crd", "print (or --write) the HeteroInferencePool CRD"),
    "operator": ("heteropool.commands.run_operator", "run the Kubernetes operator (kopf)"),
    "sim": ("heteropool.sim.cli", "run a vLLM simulator replica (OpenAI API + vLLM metrics)"),
    "epp": ("heteropool.epp.cli", "run the Endpoint Picker (Envoy ext_proc) in front of the pool's replicas"),
    "weights": ("heteropool.commands.weights", "scrape replicas and rewrite routing weights (local mode)"),
    "up": ("heteropool.commands.up", "run a pool on this machine: simulators, gateway, weight loop"),
    "simulate": ("heteropool.fleet.cli", "compare routing policies on a pool in simulated time"),
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The full parser; only `command`'s own arguments are loaded (importing its module)."""
    parser = argparse.ArgumentParser(
        prog="heteropool",
        description="One LLM inference pool across NVIDIA, AMD and Intel Gaudi on Kubernetes.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"heteropool {importlib.metadata.version('heteropool')}",
        help="print the installed heteropool version and exit",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in _COMMANDS.items():
        # No prefix matching: `--api-key VALUE` must not be taken as `--api-key-file VALUE`.
        sub = subparsers.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        if name == command:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command if command in _COMMANDS else None)
    args = parser.parse_args(args_list)
    module = importlib.import_module(_COMMANDS[args.command][0])
    return int(module.run(args) or 0)
