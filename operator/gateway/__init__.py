"""The routing gateway: OpenAI-compatible reverse proxy and the pluggable picker behind it."""

from heteropool.gateway.errors import ConfigError
from heteropool.gateway.policies import DEFAULT_POLICY, build_router

__all__ = ["ConfigError", "DEFAULT_POLICY", "build_router"]
