"""A tiny vLLM-compatible stub backend for gateway tests (in-process app or `python stub_backend.py`).

Deterministic output (so gateway vs direct bytes can be compared), usage chunk, /metrics with
the vllm gauges, and knobs via POST /admin/config: {"status": 500} answers every inference
with that status, {"delay_s": 0.2} waits before answering, {"token_delay_s": 0.01} between
chunks. GET /stub/stats returns counters (requests, aborted).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

MODEL = "stub-model"
STATE = web.AppKey("state", dict)


def make_app(name: str = "stub") -> web.Application:
    app = web.Application()
    state: dict[str, Any] = {
        "name": name, "status": 200, "delay_s": 0.0, "token_delay_s": 0.0,
        "requests": 0, "aborted": 0, "running": 0, "completed": 0,
    }
    app[STATE] = state

    async def completions(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        state["requests"] += 1
        chat = request.path.endswith("/chat/completions")
        if state["delay_s"]:
            await asyncio.sleep(state["delay_s"])
        if state["status"] != 200:
            return web.Response(status=state["status"], text=f"stub {name} failing")
        n = int(body.get("max_tokens") or 8)
        prompt = body.get("prompt") if not chat else str(body.get("messages"))
        ptoks = max(1, len(str(prompt)) // 4)
        rid = f"cmpl-{name}-{state['requests']}"
        obj = "chat.completion" if chat else "text_completion"
        usage = {"prompt_tokens": ptoks, "completion_tokens": n, "total_tokens": ptoks + n}
        words = [f"w{i} " for i in range(n)]
        state["running"] += 1
        try:
            if not body.get("stream"):
                text = "".join(words)
                choice: dict[str, Any] = (
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
                    if chat else {"index": 0, "text": text, "finish_reason": "length"}
                )
                doc = {"id": rid, "object": obj, "created": 1, "model": MODEL, "choices": [choice], "usage": usage}
                return web.Response(body=orjson.dumps(doc), content_type="application/json",
                                    headers={"x-stub-name": name})
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "x-stub-name": name})
            await resp.prepare(request)
            try:
                for i, w in enumerate(words):
                    delta: dict[str, Any] = (
                        {"index": 0, "delta": {"content": w}, "finish_reason": None}
                        if chat else {"index": 0, "text": w, "finish_reason": None}
                    )
                    if i == n - 1:
                        delta["finish_reason"] = "length"
                    chunk = {"id": rid, "object": obj + ".chunk" if chat else obj, "created": 1, "model": MODEL,
                             "choices": [delta]}
                    await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
                    if state["token_delay_s"]:
                        await asyncio.sleep(state["token_delay_s"])
                if (body.get("stream_options") or {}).get("include_usage"):
                    last = {"id": rid, "object": obj, "created": 1, "model": MODEL, "choices": [], "usage": usage}
                    await resp.write(b"data: " + orjson.dumps(last) + b"\n\n")
                await resp.write(b"data: [DONE]\n\n")
                await resp.write_eof()
            except (asyncio.CancelledError, ConnectionResetError):
                state["aborted"] += 1
                raise
            return resp
        finally:
            state["running"] -= 1
            state["completed"] += 1

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": name}]})

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok", status=200 if state["status"] == 200 else 503)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=(
            f'vllm:num_requests_running{{model_name="{MODEL}"}} {state["running"]}\n'
            f'vllm:num_requests_waiting{{model_name="{MODEL}"}} 0\n'
            f'vllm:kv_cache_usage_perc{{model_name="{MODEL}"}} 0.1\n'
        ))

    async def admin(request: web.Request) -> web.Response:
        state.update(orjson.loads(await request.read()))
        return web.json_response({k: state[k] for k in ("status", "delay_s", "token_delay_s")})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state)

    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/admin/config", admin)
    app.router.add_get("/stub/stats", stats)
    return app


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--name", default="stub")
    a = ap.parse_args()
    import uvloop

    web.run_app(make_app(a.name), host="127.0.0.1", port=a.port, print=None, handler_cancellation=True)
