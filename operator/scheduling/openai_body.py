"""What the router needs from an OpenAI request body, and usage from a response (no other parsing).

The router only needs the prompt text and `max_tokens`; everything else in the body is the
replica's business. Shapes the OpenAI API does not allow get a `RequestBodyError` naming the
field (answered with 400), never an exception deeper in the picker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "RequestBodyError",
    "InferenceBody",
    "parse_inference_body",
    "prompt_text",
    "usage_from_json",
    "usage_from_sse_tail",
]


class RequestBodyError(ValueError):
    """The request body is not a valid OpenAI completion/chat request; the message names the field."""


@dataclass(frozen=True, slots=True)
class InferenceBody:
    """The parts of a request body routing uses."""

    prompt: str
    max_tokens: int
    model: str | None


def _content_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise RequestBodyError(f"{where}: expected a string or a list of content parts, got {type(content).__name__}")
    parts: list[str] = []
    for i, part in enumerate(content):
        if not isinstance(part, dict):
            raise RequestBodyError(f"{where}[{i}]: expected an object, got {type(part).__name__}")
        text = part.get("text")
        if text is None:
            continue  # image/audio parts carry no routable text
        if not isinstance(text, str):
            raise RequestBodyError(f"{where}[{i}].text: expected a string, got {type(text).__name__}")
        parts.append(text)
    return "".join(parts)


def prompt_text(body: dict[str, Any], chat: bool) -> str:
    """The text the prefix index hashes: the completion prompt, or the chat messages in order.

    Raises:
        RequestBodyError: `messages` / `prompt` has a shape the OpenAI API does not accept.
    """
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise RequestBodyError(f"messages: expected a list, got {type(messages).__name__}")
        out: list[str] = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise RequestBodyError(f"messages[{i}]: expected an object, got {type(m).__name__}")
            role = m.get("role", "")
            if not isinstance(role, str):
                raise RequestBodyError(f"messages[{i}].role: expected a string, got {type(role).__name__}")
            out.append(f"{role}\n{_content_text(m.get('content'), f'messages[{i}].content')}\n")
        return "".join(out)
    prompt = body.get("prompt", "")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        if all(isinstance(p, str) for p in prompt):
            return "\n".join(prompt)
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            return ",".join(map(str, prompt))  # token ids
        raise RequestBodyError("prompt: expected a string, a list of strings or a list of token ids")
    raise RequestBodyError(f"prompt: expected a string or a list, got {type(prompt).__name__}")


def parse_inference_body(raw: bytes, *, chat: bool) -> InferenceBody:
    """Parse a request body once (orjson) into what routing needs.

    Raises:
        RequestBodyError: not JSON, not an object, or a field of the wrong type (named).
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestBodyError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RequestBodyError(f"request body must be a JSON object, got {type(doc).__name__}")
    max_tokens = doc.get("max_tokens")
    if max_tokens is None:
        max_tokens = doc.get("max_completion_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0):
        raise RequestBodyError(f"max_tokens: expected a non-negative integer, got {max_tokens!r}")
    model = doc.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestBodyError(f"model: expected a string, got {type(model).__name__}")
    return InferenceBody(prompt=prompt_text(doc, chat=chat), max_tokens=max_tokens or 0, model=model)


def usage_from_json(data: bytes) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) of a non-streaming response body, if present."""
    if b'"usage"' not in data:
        return None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    usage = doc.get("usage") if isinstance(doc, dict) else None
    if not isinstance(usage, dict):
        return None
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def usage_from_sse_tail(tail: bytes) -> tuple[int, int] | None:
    """Usage from the last SSE event that carries one (the final usage chunk)."""
    pos = tail.rfind(b'"prompt_tokens"')
    if pos < 0:
        return None
    start = tail.rfind(b"data:", 0, pos)
    if start < 0:
        return None
    end = tail.find(b"\n", pos)
    line = tail[start + 5 : end if end >= 0 else len(tail)].strip()
    return usage_from_json(line)
