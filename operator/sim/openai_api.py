"""OpenAI request bodies as vLLM accepts them, and the response/chunk builders.

Bodies ignore fields they do not model (vLLM ignores unknown sampling fields too, with a
warning), so any OpenAI client works; the fields that change what we do are validated.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "StreamOptions",
    "CompletionRequest",
    "ChatMessage",
    "ChatCompletionRequest",
    "render_chat",
    "usage",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StreamOptions(_Body):
    include_usage: bool | None = False
    continuous_usage_stats: bool | None = False


class _Common(_Body):
    model: str | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1)
    max_tokens: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> _Common:
        if self.stream_options is not None and not self.stream:
            raise ValueError("Stream options can only be defined when `stream=True`.")
        if self.n != 1:
            raise ValueError("the simulator supports n=1 only")
        return self


class CompletionRequest(_Common):
    prompt: str | list[int] | list[str] | list[list[int]]

    def single_prompt(self) -> str | list[int]:
        """The one prompt (a list of one prompt is accepted, as vLLM does)."""
        p = self.prompt
        if isinstance(p, list) and p and isinstance(p[0], (str, list)):
            if len(p) != 1:
                raise ValueError("the simulator serves one prompt per request")
            return p[0]
        if isinstance(p, list) and not p:
            raise ValueError("prompt must not be empty")
        return p  # type: ignore[return-value]


class ChatMessage(_Body):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def render_chat(messages: list[ChatMessage]) -> str:
    """A fixed chat template (granite-like role markers); the prompt the engine sees."""
    parts = []
    for m in messages:
        content = m.content
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        parts.append(f"<|start_of_role|>{m.role}<|end_of_role|> {content or ''}<|end_of_text|>\n")
    parts.append("<|start_of_role|>assistant<|end_of_role|>")
    return "".join(parts)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
        "prompt_tokens_details": None,
    }
