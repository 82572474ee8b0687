"""`heteropool weights`: the weight loop in local mode, fed by an endpoint file instead of Kubernetes.

Reads IN (the gateway's endpoint-file format) every interval, scrapes each endpoint's /metrics,
and rewrites OUT in the same format with `capacity` (output tokens/s) and `weight` filled in;
`heteropool epp --endpoints OUT` follows it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def _static(text: str) -> tuple[str, float]:
    group, sep, value = text.partition("=")
    try:
        if not sep or not group:
            raise ValueError
        return group, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GROUP=WEIGHT, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoints", metavar="IN", required=True, help="endpoint file to read (url, group, ...)")
    parser.add_argument(
        "--write", metavar="OUT", required=True, help="endpoint file to rewrite with capacity and weight"
    )
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between scrapes (default 15)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="scrape timeout in seconds (default min(5, interval/2))"
    )
    parser.add_argument("--floor", type=float, default=0.02, help="minimum share of a vendor group (default 0.02)")
    parser.add_argument("--max-step", type=float, default=0.25, help="largest relative weight change per interval")
    parser.add_argument("--smoothing", type=float, default=0.6, help="EWMA weight of a new capacity sample")
    parser.add_argument(
        "--static",
        type=_static,
        action="append",
        metavar="GROUP=WEIGHT",
        help="static mode: fixed relative weight per group (repeat per group)",
    )
    parser.add_argument(
        "--iterations", type=int, default=None, help="stop after this many rounds (default: run until stopped)"
    )
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING or ERROR (default WARNING)")


def run(args: argparse.Namespace) -> int:
    from heteropool.weights.controller import WeightSettings

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    src, out = Path(args.endpoints), Path(args.write)
    if src.resolve() == out.resolve():
        print("heteropool weights: --write must differ from --endpoints (the input holds the priors)", file=sys.stderr)
        return 2
    try:
        settings = WeightSettings(
            interval_s=args.interval,
            timeout_s=args.timeout,
            floor=args.floor,
            max_step=args.max_step,
            smoothing=args.smoothing,
            static_weights=dict(args.static) if args.static else None,
        )
    except ValueError as exc:
        print(f"heteropool weights: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_main(settings, src, out, args.iterations))
    except KeyboardInterrupt:
        pass
    return 0


async def _main(settings: object, src: Path, out: Path, iterations: int | None) -> None:
    import httpx

    from heteropool.routing import load_endpoint_entries
    from heteropool.weights.controller import WeightSettings
    from heteropool.weights.local import run_weight_loop
    from heteropool.weights.loop import WeightLoop

    assert isinstance(settings, WeightSettings)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_s), limits=limits) as http:
        with contextlib.suppress(asyncio.CancelledError):
            await run_weight_loop(
                WeightLoop(settings),
                http,
                lambda: load_endpoint_entries(src.read_text(), source=str(src)),
                out,
                interval_s=settings.interval_s,
                iterations=iterations,
            )
