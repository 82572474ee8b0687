"""`heteropool sim`: start simulated vLLM replicas (flags mirror `vllm serve` where they exist)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from pydantic import ValidationError

from heteropool.validation import first_problem

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from heteropool.sim.profiles import DTYPES, KV_CACHE_DTYPES, MODEL_CLASSES, PROFILE_NAMES

    parser.add_argument("--list-profiles", action="store_true", help="print the profile names and exit")
    parser.add_argument("--profile", default="h100-nvl", help=f"accelerator speed profile ({', '.join(PROFILE_NAMES)})")
    parser.add_argument(
        "--model", default="ibm-granite/granite-4.1-8b", help="model name (its size picks the size class)"
    )
    parser.add_argument("--served-model-name", nargs="+", default=None, help="names clients may ask for")
    parser.add_argument(
        "--size-class",
        choices=sorted(MODEL_CLASSES),
        default=None,
        help="model size class (default: guessed from --model)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1; 0.0.0.0 in a pod)")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed on start)")
    parser.add_argument(
        "--ports",
        type=int,
        default=1,
        help="serve this many independent replicas on PORT, PORT+1, ... from one process (default 1)",
    )
    parser.add_argument(
        "--max-num-seqs", type=int, default=None, help="most sequences in a batch (default: the profile's)"
    )
    parser.add_argument(
        "--max-num-batched-tokens", type=int, default=None, help="most tokens per engine step (default: the profile's)"
    )
    parser.add_argument("--block-size", type=int, default=None, help="tokens per KV block (default: the profile's)")
    parser.add_argument("--max-model-len", type=int, default=None, help="longest prompt + output in tokens")
    parser.add_argument(
        "--num-gpu-blocks-override",
        dest="num_gpu_blocks",
        type=int,
        default=None,
        help="KV cache size in blocks instead of the profile's",
    )
    parser.add_argument(
        "--gpu-memory-utilization",
        type=float,
        default=None,
        help="fraction of device memory for weights, activations and KV (vLLM default 0.9)",
    )
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="auto", help="weights dtype (auto: BF16)")
    parser.add_argument(
        "--kv-cache-dtype",
        choices=sorted(KV_CACHE_DTYPES),
        default="auto",
        help="KV cache dtype (auto: the weights dtype)",
    )
    parser.add_argument(
        "--no-enable-prefix-caching",
        dest="enable_prefix_caching",
        action="store_false",
        help="turn the prefix cache off",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run this many times faster than real time (latencies shrink alike)",
    )
    parser.add_argument(
        "--default-max-tokens",
        type=int,
        default=None,
        help="max_tokens when a chat request sets none (vLLM: the rest of the context)",
    )
    parser.add_argument(
        "--max-tokens-cap",
        type=int,
        default=None,
        help="generate at most this many tokens per request, whatever max_tokens asks",
    )
    fast = parser.add_argument_group(
        "fixed latencies",
        "Either flag runs no engine model: every request, whatever the load, gets its first token after "
        "--fixed-ttft-ms and each further one --fixed-itl-ms later (the other one defaults to 0; both divided "
        "by --time-scale, times the admin slowdown). A fast, cheap fake backend for benchmarking what sits "
        "in front of the replicas.",
    )
    fast.add_argument("--fixed-ttft-ms", type=float, default=None, help="time to first token, in ms")
    fast.add_argument("--fixed-itl-ms", type=float, default=None, help="time between tokens, in ms")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injector (replica i: seed + i)")
    parser.add_argument(
        "--enable-admin-api",
        dest="admin_api",
        action="store_true",
        help="serve GET/POST /admin/config (slow-down and fault knobs; anyone who reaches the port "
        "can stall the replica). Default: off",
    )


def run(args: argparse.Namespace) -> int:
    from heteropool.sim.profiles import PROFILE_NAMES, ProfileError
    from heteropool.sim.server import SimSettings, serve

    if args.list_profiles:
        print("\n".join(PROFILE_NAMES))
        return 0
    try:
        # Every flag's dest is the name of a settings field, so the flags are the settings.
        flags = {name: getattr(args, name) for name in SimSettings.model_fields}
        settings = SimSettings.model_validate({**flags, "served_model_name": tuple(args.served_model_name or ())})
        if settings.profile not in PROFILE_NAMES:
            raise ProfileError(f"--profile: unknown profile {settings.profile!r}; known: {', '.join(PROFILE_NAMES)}")
    except ValidationError as exc:
        where, what = first_problem(exc)
        print(f"heteropool sim: --{where.split('.')[0].replace('_', '-')}: {what}", file=sys.stderr)
        return 2
    except ProfileError as exc:
        print(f"heteropool sim: {exc}", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    from heteropool.ports import bind_problem

    for replica in settings.replicas():
        problem = bind_problem(replica.host, replica.port)
        if problem is not None:
            print(f"heteropool sim: --port: {problem}", file=sys.stderr)
            return 2
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(settings))
    return 0
