"""`heteropool crd`: print the CRD (or, with --reference, the configuration reference), or --write it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heteropool.apidocs import api_reference_markdown
from heteropool.crd import crd_yaml

__all__ = ["add_arguments", "run", "CRD_PATH", "REFERENCE_PATH"]

CRD_PATH = Path("crds/heteroinferencepools.yaml")
REFERENCE_PATH = Path("docs/api-reference.md")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference", action="store_true", help="the configuration reference (Markdown) instead of the CRD"
    )
    parser.add_argument(
        "--write",
        nargs="?",
        const="",
        metavar="PATH",
        help=f"write to PATH instead of stdout (default: {CRD_PATH}, or {REFERENCE_PATH} with --reference)",
    )


def run(args: argparse.Namespace) -> int:
    text = api_reference_markdown() if args.reference else crd_yaml()
    if args.write == "":
        args.write = REFERENCE_PATH if args.reference else CRD_PATH
    if args.write is None:
        sys.stdout.write(text)
        return 0
    args.write = Path(args.write)
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(text)
    print(f"wrote {args.write}", file=sys.stderr)
    return 0
