"""A fast fake vLLM worker for the gateway benchmarks (aiohttp + uvloop, fixed service time).

Serves /v1/completions and /v1/chat/completions (SSE with usage chunk, or one JSON body) after
a fixed TTFT and inter-chunk delay, plus what the Rust routers probe: /health, /v1/models,
/server_info and /model_info (never a model_path, so sglang-router downloads nothing), and
vllm-router's /v1/completions/render and /tokenize (fake token ids), so its cache_aware policy
can work.

    .venv/bin/python bench/gateway_backend.py --port 18001 --ttft-ms 100 --itl-ms 25 --chunks 4
"""

from __future__ import annotations

import argparse
import asyncio
import zlib
from typing import Any

import orjson
from aiohttp import web

MODEL = "bench-model"


def make_app(name: str, ttft_s: float, itl_s: float, chunks: int) -> web.Application:
    async def completions(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        chat = request.path.endswith("/chat/completions")
        n = min(int(body.get("max_tokens") or chunks), chunks)
        if ttft_s:
            await asyncio.sleep(ttft_s)
        obj = "chat.completion.chunk" if chat else "text_completion"
        usage = {"prompt_tokens": 100, "completion_tokens": n, "total_tokens": 100 + n}
        if not body.get("stream"):
            if itl_s and n > 1:
                await asyncio.sleep(itl_s * (n - 1))
            text = "tok " * n
            choice: dict[str, Any] = (
                {"index": 0, "message": {"role": "assistant", "content": text}} if chat else {"index": 0, "text": text}
            )
            return web.Response(
                body=orjson.dumps(
                    {"id": f"cmpl-{name}", "object": obj, "model": MODEL, "choices": [choice], "usage": usage}
                ),
                content_type="application/json",
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(n):
            if i and itl_s:
                await asyncio.sleep(itl_s)
            delta = {"index": 0, "delta": {"content": "tok "}} if chat else {"index": 0, "text": "tok "}
            await resp.write(
                b"data: "
                + orjson.dumps({"id": f"cmpl-{name}", "object": obj, "model": MODEL, "choices": [delta]})
                + b"\n\n"
            )
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(
                b"data: "
                + orjson.dumps({"id": f"cmpl-{name}", "object": obj, "model": MODEL, "choices": [], "usage": usage})
                + b"\n\n"
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    async def server_info(request: web.Request) -> web.Response:
        return web.json_response({"model_id": MODEL, "served_model_name": MODEL, "dp_size": 1})

    async def model_info(request: web.Request) -> web.Response:
        return web.json_response({"is_generation": True})

    def _ids(text: str) -> list[int]:
        return [zlib.crc32(w.encode()) % 50000 for w in text.split()]

    async def render(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        text = str(body.get("prompt") or body.get("messages") or "")
        return web.json_response([{"token_ids": _ids(text), "model": MODEL, "request_id": "r", "sampling_params": {}}])

    async def tokenize(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        ids = _ids(str(body.get("prompt") or ""))
        return web.json_response({"count": len(ids), "max_model_len": 131072, "tokens": ids})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="vllm:num_requests_running 0\nvllm:num_requests_waiting 0\n")

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/health", ok)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/server_info", server_info)
    app.router.add_get("/model_info", model_info)
    app.router.add_post("/v1/completions/render", render)
    app.router.add_post("/v1/chat/completions/render", render)
    app.router.add_post("/tokenize", tokenize)
    app.router.add_get("/metrics", metrics)
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="first port")
    ap.add_argument("--ports", type=int, default=1, help="listen on PORT .. PORT+N-1 (one process, N endpoints)")
    ap.add_argument("--name", default="w")
    ap.add_argument("--ttft-ms", type=float, default=100.0)
    ap.add_argument("--itl-ms", type=float, default=25.0)
    ap.add_argument("--chunks", type=int, default=4)
    a = ap.parse_args()
    import uvloop

    uvloop.install()
    app = make_app(a.name, a.ttft_ms / 1000, a.itl_ms / 1000, a.chunks)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for port in range(a.port, a.port + a.ports):
            await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
