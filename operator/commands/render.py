"""`heteropool render POOL.yaml`: print the objects a pool renders to, as kubectl would apply them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heteropool.commands.run_operator import add_platform_arguments, render_settings
from heteropool.manifests import ManifestError, load_pools
from heteropool.render import expected_objects, to_yaml
from heteropool.semantics import SpecError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="pool manifest (YAML; several documents allowed; - for stdin)")
    parser.add_argument("-n", "--namespace", default="default", help="namespace of pools that name none")
    add_platform_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text()
        pools = load_pools(text, source=str(args.file), default_namespace=args.namespace)
    except OSError as exc:
        print(f"heteropool render: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except (ManifestError, SpecError) as exc:
        print(f"heteropool render: {exc}", file=sys.stderr)
        return 1
    settings = render_settings(args)
    sys.stdout.write(to_yaml([obj for pool in pools for obj in expected_objects(pool, settings=settings)]))
    return 0
