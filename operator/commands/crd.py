"""`heteropool crd`: print the CRD, or `--write` it to crds/ (the checked-in copy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heteropool.crd import crd_yaml

__all__ = ["add_arguments", "run", "CRD_PATH"]

CRD_PATH = Path("crds/heteroinferencepools.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write",
        nargs="?",
        const=CRD_PATH,
        type=Path,
        metavar="PATH",
        help=f"write to PATH instead of stdout (default PATH: {CRD_PATH})",
    )


def run(args: argparse.Namespace) -> int:
    text = crd_yaml()
    if args.write is None:
        sys.stdout.write(text)
        return 0
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(text)
    print(f"wrote {args.write}", file=sys.stderr)
    return 0
