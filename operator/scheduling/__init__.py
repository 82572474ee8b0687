"""The scheduling framework: filter -> score -> pick profiles, their plugins, the prefix index and
the endpoint table with its load accounting. The Endpoint Picker (`heteropool.epp`) and the fleet
simulation (`heteropool.fleet`) both route through it."""

from heteropool.scheduling.errors import ConfigError
from heteropool.scheduling.policies import DEFAULT_POLICY, build_router

__all__ = ["ConfigError", "DEFAULT_POLICY", "build_router"]
