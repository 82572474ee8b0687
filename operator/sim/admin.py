"""Runtime fault knobs of a simulator replica: slow it down, make it fail, drain it.

`POST /admin/config` merges the given fields into the current `AdminConfig`; `GET` returns it.
Only inference requests are faulted; /health, /metrics and /admin keep answering (except that
/health turns 503 while draining, so a gateway stops sending new work).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heteropool.validation import first_problem

__all__ = ["AdminConfig", "AdminConfigError", "FaultState", "Fault"]

Fault = Literal["none", "status", "reset", "hang"]


class AdminConfigError(ValueError):
    """The update is invalid; the message names the field and the value."""


class AdminConfig(BaseModel):
    """Current fault settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slowdown: float = Field(1.0, gt=0, le=1000, description="Multiplies every step time (2.0 = half speed).")
    error_rate: float = Field(0.0, ge=0, le=1, description="Fraction of inference requests that fail.")
    error_mode: Literal["status", "reset", "hang"] = Field(
        "status", description="How a failing request fails: an HTTP error, a TCP reset, or no answer."
    )
    error_status: int = Field(500, ge=500, le=599, description="HTTP status of error_mode=status.")
    draining: bool = Field(False, description="Refuse new requests with 503; finish those in flight.")


class FaultState:
    """The live `AdminConfig` plus a seeded dice for error injection."""

    def __init__(self, seed: int = 0) -> None:
        self.config = AdminConfig()
        self._rng = random.Random(f"faults:{seed}")

    def update(self, changes: Mapping[str, Any]) -> AdminConfig:
        """Merge `changes` into the config.

        Raises:
            AdminConfigError: unknown field or bad value, e.g. "error_rate: Input should be
                less than or equal to 1 (got 2)".
        """
        if not isinstance(changes, Mapping):
            raise AdminConfigError(f"body: expected a JSON object, got {type(changes).__name__}")
        try:
            self.config = AdminConfig.model_validate({**self.config.model_dump(), **changes})
        except ValidationError as exc:
            where, problem = first_problem(exc)
            raise AdminConfigError(f"{where or 'body'}: {problem}") from None
        return self.config

    def draw(self) -> Fault:
        """Whether the next inference request fails, and how."""
        cfg = self.config
        if cfg.error_rate > 0 and self._rng.random() < cfg.error_rate:
            return cfg.error_mode
        return "none"
