"""kopf handlers: reconcile pools into children, fold child state into status."""

from heteropool.handlers.apply import FIELD_MANAGER
from heteropool.handlers.pool import OperatorContext, converge
from heteropool.handlers.registry import FINALIZER, build_registry, make_memo

__all__ = ["FIELD_MANAGER", "FINALIZER", "OperatorContext", "build_registry", "converge", "make_memo"]
