"""vLLM stand-in: a pure engine model (continuous batching, prefix cache, vendor speed profiles)
and the `heteropool sim` HTTP server that runs it in real time."""

from heteropool.sim.blocks import PrefixHasher, PromptHashes, hash_blocks
from heteropool.sim.engine import (
    Engine,
    EngineConfig,
    EngineError,
    EngineStats,
    FinishedRequest,
    RequestRejectedError,
    StepResult,
)
from heteropool.sim.profiles import PROFILE_NAMES, ProfileError, SpeedProfile, build_profile
from heteropool.sim.tokenizer import Tokenizer

__all__ = [
    "Engine",
    "EngineConfig",
    "EngineError",
    "EngineStats",
    "FinishedRequest",
    "PROFILE_NAMES",
    "PrefixHasher",
    "ProfileError",
    "PromptHashes",
    "RequestRejectedError",
    "SpeedProfile",
    "StepResult",
    "Tokenizer",
    "build_profile",
    "hash_blocks",
]
