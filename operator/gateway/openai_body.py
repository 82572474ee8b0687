"""What the router needs from an OpenAI request body, and usage from a response (no other parsing)."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["prompt_text", "usage_from_json", "usage_from_sse_tail"]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def prompt_text(body: dict[str, Any], chat: bool) -> str:
    """The text the prefix index hashes: the completion prompt, or the chat messages in order."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return ""
        return "".join(
            f"{m.get('role', '')}\n{_content_text(m.get('content'))}\n" for m in messages if isinstance(m, dict)
        )
    prompt = body.get("prompt", "")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        if prompt and all(isinstance(p, str) for p in prompt):
            return "\n".join(prompt)
        return ",".join(map(str, prompt))
    return str(prompt)


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
