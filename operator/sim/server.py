"""`heteropool sim`: the vLLM OpenAI server surface over a real-time simulated engine (aiohttp).

aiohttp because it is already a dependency, streams SSE without an ASGI stack, and serves many
concurrent streams on one core cheaply. One port is one replica, like one vLLM pod; `ports` > 1
serves that many independent replicas from one process. With fixed latencies the replicas run no
engine (`FixedLatencyDriver`): the fast fake backend of the gateway benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from heteropool.routing import estimate_prompt_tokens
from heteropool.sim.admin import AdminConfigError, FaultState
from heteropool.sim.blocks import PrefixHasher
from heteropool.sim.driver import FixedLatencyDriver, RealtimeDriver, RequestStream
from heteropool.sim.engine import Engine, EngineConfig, RequestRejectedError
from heteropool.sim.metrics import ReplicaLoad, SimMetrics
from heteropool.sim.openai_api import ChatCompletionRequest, CompletionRequest, render_chat, usage
from heteropool.sim.profiles import DEFAULT_GPU_MEMORY_UTILIZATION, build_profile, size_class_for_model
from heteropool.sim.tokenizer import Tokenizer, output_piece
from heteropool.validation import first_problem

__all__ = ["SimSettings", "SimServer", "build_app", "serve", "start_replicas"]

log = logging.getLogger(__name__)


class SimSettings(BaseModel):
    """Everything one simulator process is started with (flags mirror vLLM's where they exist)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    ports: int = Field(1, ge=1)  # replicas on port, port + 1, ...: one process, that many endpoints
    model: str = "ibm-granite/granite-4.1-8b"
    served_model_name: tuple[str, ...] = ()
    profile: str = "h100-nvl"
    size_class: str | None = None
    max_num_seqs: int | None = Field(None, ge=1)
    max_num_batched_tokens: int | None = Field(None, ge=1)
    block_size: int | None = Field(None, ge=1)
    max_model_len: int | None = Field(None, ge=2)
    num_gpu_blocks: int | None = Field(None, ge=1)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    dtype: str = "auto"
    kv_cache_dtype: str = "auto"
    enable_prefix_caching: bool = True
    time_scale: float = Field(1.0, gt=0)
    default_max_tokens: int | None = Field(None, ge=1)
    max_tokens_cap: int | None = Field(None, ge=1)  # at most this many output tokens, whatever a request asks
    # Either one set: no engine, every request gets these latencies (ms, the other one 0).
    fixed_ttft_ms: float | None = Field(None, ge=0)
    fixed_itl_ms: float | None = Field(None, ge=0)
    seed: int = 0
    admin_api: bool = False  # /admin/config can stall or fail the replica: off unless asked for

    @field_validator("ports")
    @classmethod
    def _ports_fit(cls, ports: int, info: ValidationInfo) -> int:
        port = info.data.get("port")
        if ports > 1 and port == 0:
            raise ValueError("more than one port needs a first port (0 picks one free port only)")
        if port is not None and port + ports - 1 > 65535:
            raise ValueError(f"ports {port}..{port + ports - 1} run past 65535")
        return ports

    @property
    def model_names(self) -> tuple[str, ...]:
        return self.served_model_name or (self.model,)

    @property
    def fixed_latency(self) -> bool:
        return self.fixed_ttft_ms is not None or self.fixed_itl_ms is not None

    def replicas(self) -> list[SimSettings]:
        """One setting per port: port, port + 1, ... each with its own fault dice (seed + i)."""
        return [
            self.model_copy(update={"port": self.port + i, "ports": 1, "seed": self.seed + i})
            for i in range(self.ports)
        ]


def _error(status: int, message: str, kind: str = "BadRequestError", param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _random_hex() -> str:
    """32 random hex digits, like the uuid4().hex of vLLM request ids, for a third of the cost."""
    return os.urandom(16).hex()


def _reset(request: web.Request) -> None:
    """Close the connection with a TCP RST, as a crashed pod or a dropped link would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class SimServer:
    """One replica: engine (unless latencies are fixed), driver, metrics, faults, and the HTTP handlers."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        size = settings.size_class or size_class_for_model(settings.model)
        self.profile = build_profile(
            settings.profile,
            size,
            dtype=settings.dtype,
            kv_cache_dtype=settings.kv_cache_dtype,
            gpu_memory_utilization=settings.gpu_memory_utilization,
        )
        self.engine_config = EngineConfig.from_profile(
            self.profile,
            block_size=settings.block_size,
            max_num_seqs=settings.max_num_seqs,
            max_num_batched_tokens=settings.max_num_batched_tokens,
            max_model_len=settings.max_model_len,
            num_gpu_blocks=settings.num_gpu_blocks,
            enable_prefix_caching=settings.enable_prefix_caching,
        )
        self.faults = FaultState(settings.seed)
        self.tokenizer = Tokenizer()
        self.hasher = PrefixHasher(self.tokenizer, self.engine_config.block_size)
        cfg = self.engine_config
        self.engine: Engine | None = None
        self.driver: RealtimeDriver | FixedLatencyDriver | None = None
        load: ReplicaLoad
        if settings.fixed_latency:
            self.driver = load = FixedLatencyDriver(
                (settings.fixed_ttft_ms or 0.0) / 1000,
                (settings.fixed_itl_ms or 0.0) / 1000,
                max_model_len=cfg.max_model_len,
                time_scale=settings.time_scale,
                slowdown=lambda: self.faults.config.slowdown,
            )
        else:
            self.engine = load = Engine(cfg)
        self.load = load
        self.metrics = SimMetrics(
            load,
            model_name=settings.model_names[0],
            cache_config={
                "block_size": str(cfg.block_size),
                "cache_dtype": settings.kv_cache_dtype,
                "enable_prefix_caching": str(cfg.enable_prefix_caching),
                "gpu_memory_utilization": str(settings.gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION),
                "num_cpu_blocks": "0",
                "num_gpu_blocks": str(cfg.num_gpu_blocks),
                "prefix_caching_hash_algo": "builtin",
            },
            max_model_len=cfg.max_model_len,
        )
        if isinstance(self.driver, FixedLatencyDriver):
            self.driver.metrics = self.metrics  # built after the driver: the metrics read its load
        self._stopping = asyncio.Event()
        self._created = int(time.time())

    # --- lifecycle ------------------------------------------------------------------------

    async def _lifespan(self, _app: web.Application) -> AsyncIterator[None]:
        if self.engine is not None:  # the engine's driver binds to the running loop
            self.driver = RealtimeDriver(
                self.engine,
                time_scale=self.settings.time_scale,
                slowdown=lambda: self.faults.config.slowdown,
                metrics=self.metrics,
            )
        assert self.driver is not None
        self.driver.start()
        yield
        self._stopping.set()
        await self.driver.stop()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.cleanup_ctx.append(self._lifespan)
        r = app.router
        r.add_get("/health", self.health)
        r.add_get("/ping", self.ping)
        r.add_post("/ping", self.ping)
        r.add_get("/v1/models", self.models)
        r.add_get("/metrics", self.metrics_handler)
        r.add_post("/v1/completions", self.completions)
        r.add_post("/v1/chat/completions", self.chat_completions)
        r.add_post("/tokenize", self.tokenize)
        r.add_post("/v1/completions/render", self.render)
        r.add_post("/v1/chat/completions/render", self.render_chat)
        r.add_get("/load", self.server_load)
        r.add_get("/get_load", self.get_load)
        for path in ("/server_info", "/get_server_info"):
            r.add_get(path, self.server_info)
        for path in ("/model_info", "/get_model_info"):
            r.add_get(path, self.model_info)
        if self.settings.admin_api:
            r.add_get("/admin/config", self.get_admin)
            r.add_post("/admin/config", self.post_admin)
        return app

    # --- plain endpoints -----------------------------------------------------------------

    async def health(self, _request: web.Request) -> web.Response:
        if self.driver is not None and self.driver.dead is not None:
            return web.Response(status=503, text="engine dead")
        if self.faults.config.draining:
            return web.Response(status=503, text="draining")
        return web.Response(status=200)

    async def ping(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def models(self, _request: web.Request) -> web.Response:
        data: list[dict[str, Any]] = [
            {
                "id": name,
                "object": "model",
                "created": self._created,
                "owned_by": "vllm",
                "root": self.settings.model,
                "parent": None,
                "max_model_len": self.engine_config.max_model_len,
                "permission": [],
            }
            for name in self.settings.model_names
        ]
        return web.json_response({"object": "list", "data": data}, dumps=lambda o: orjson.dumps(o).decode())

    async def metrics_handler(self, _request: web.Request) -> web.Response:
        resp = web.Response(body=self.metrics.exposition())
        resp.content_type = "text/plain"
        resp.charset = "utf-8"
        return resp

    # --- what peer routers probe (docs/simulator.md: vllm-router cache_aware renders every
    # prompt on every worker; sglang-router reads server/model info and load) -----------------

    async def _prompt_of(self, request: web.Request, *, chat: bool | None = None) -> str | list[int]:
        raw = orjson.loads(await request.read())
        if chat or (chat is None and "messages" in raw):
            return render_chat(ChatCompletionRequest.model_validate({**raw, "stream": False}).messages)
        return CompletionRequest.model_validate({"prompt": raw.get("prompt", "")}).single_prompt()

    def _token_ids(self, prompt: str | list[int]) -> list[int]:
        return self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)

    async def tokenize(self, request: web.Request) -> web.Response:
        try:
            tokens = self._token_ids(await self._prompt_of(request))
        except (orjson.JSONDecodeError, ValidationError, ValueError) as exc:
            return _error(400, str(exc))
        body = {
            "count": len(tokens),
            "max_model_len": self.engine_config.max_model_len,
            "tokens": tokens,
            "token_strs": None,
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def render(self, request: web.Request) -> web.Response:
        return await self._render(request, chat=False)

    async def render_chat(self, request: web.Request) -> web.Response:
        return await self._render(request, chat=True)

    async def _render(self, request: web.Request, *, chat: bool) -> web.Response:
        try:
            tokens = self._token_ids(await self._prompt_of(request, chat=chat))
        except (orjson.JSONDecodeError, ValidationError, ValueError) as exc:
            return _error(400, str(exc))
        body = [
            {
                "token_ids": tokens,
                "model": self.settings.model_names[0],
                "request_id": f"render-{_random_hex()}",
                "sampling_params": {},
            }
        ]
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def server_load(self, _request: web.Request) -> web.Response:
        return web.json_response({"server_load": self.load.num_running + self.load.num_waiting})

    async def get_load(self, _request: web.Request) -> web.Response:
        load, cfg = self.load, self.engine_config
        return web.json_response(
            [
                {
                    "dp_rank": 0,
                    "num_reqs": load.num_running,
                    "num_waiting_reqs": load.num_waiting,
                    "num_tokens": int(load.kv_usage() * cfg.num_gpu_blocks * cfg.block_size),
                }
            ]
        )

    async def server_info(self, _request: web.Request) -> web.Response:
        # No model_path / tokenizer_path: sglang-router would try to download that tokenizer.
        name = self.settings.model_names[0]
        return web.json_response(
            {
                "model_id": name,
                "served_model_name": name,
                "dp_size": 1,
                "tp_size": 1,
                "max_model_len": self.engine_config.max_model_len,
            }
        )

    async def model_info(self, _request: web.Request) -> web.Response:
        return web.json_response({"model_id": self.settings.model_names[0], "is_generation": True})

    async def get_admin(self, _request: web.Request) -> web.Response:
        return web.json_response(self.faults.config.model_dump())

    async def post_admin(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            cfg = self.faults.update(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, f"body: not valid JSON: {exc}")
        except AdminConfigError as exc:
            return _error(400, str(exc))
        log.info("admin config changed", extra={"admin": cfg.model_dump()})
        return web.json_response(cfg.model_dump())

    # --- inference ------------------------------------------------------------------------

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=False)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, chat=True)

    async def _serve(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        if self.faults.config.draining:
            return _error(503, "the server is draining", "ServiceUnavailableError")
        fault = self.faults.draw()
        if fault == "status":
            return _error(self.faults.config.error_status, "injected failure", "InternalServerError")
        if fault == "reset":
            _reset(request)
            return web.Response(status=500)
        if fault == "hang":
            await self._stopping.wait()
            return _error(503, "the server is shutting down", "ServiceUnavailableError")
        try:
            raw = orjson.loads(await request.read())
            body: CompletionRequest | ChatCompletionRequest
            if chat:
                body = ChatCompletionRequest.model_validate(raw)
                prompt: str | list[int] = render_chat(body.messages)
                limit = body.limit()
            else:
                body = CompletionRequest.model_validate(raw)
                prompt = body.single_prompt()
                limit = body.max_tokens if "max_tokens" in raw else 16
        except orjson.JSONDecodeError as exc:
            return _error(400, f"body: not valid JSON: {exc}")
        except ValidationError as exc:
            where, problem = first_problem(exc)
            return _error(400, f"{where}: {problem}" if where else problem)
        except ValueError as exc:
            return _error(400, str(exc))
        model = body.model or self.settings.model_names[0]
        if model not in self.settings.model_names:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
        prompt_tokens, hashes = self._prompt_blocks(prompt)
        if limit is None:
            limit = self.settings.default_max_tokens or self.engine_config.max_model_len - prompt_tokens
        if self.settings.max_tokens_cap is not None:
            limit = min(limit, self.settings.max_tokens_cap)
        rid = ("chatcmpl-" if chat else "cmpl-") + _random_hex()
        assert self.driver is not None
        try:
            stream = self.driver.submit(rid, prompt_tokens, hashes, max(1, limit))
        except RequestRejectedError as exc:
            return _error(400, str(exc))
        try:
            if body.stream:
                opts = body.stream_options
                include_usage = bool(opts and opts.include_usage)
                continuous = bool(include_usage and opts and opts.continuous_usage_stats)
                return await self._stream(
                    request, stream, rid, model, chat=chat, include_usage=include_usage, continuous_usage=continuous
                )
            return await self._complete(stream, rid, model, chat=chat)
        finally:
            if stream.finished is None:
                self.driver.abort(rid)

    def _prompt_blocks(self, prompt: str | list[int]) -> tuple[int, tuple[int, ...]]:
        """Prompt tokens and full-block hashes; without an engine only the gateway's cheap estimate."""
        if self.engine is None:
            return (max(1, estimate_prompt_tokens(prompt)) if isinstance(prompt, str) else len(prompt)), ()
        ph = self.hasher.of_text(prompt) if isinstance(prompt, str) else self.hasher.of_tokens(prompt)
        return ph.num_tokens, ph.hashes

    def _check_alive(self) -> None:
        if self.driver is not None and self.driver.dead is not None:
            raise web.HTTPInternalServerError(text="engine dead")

    async def _complete(self, stream: RequestStream, rid: str, model: str, *, chat: bool) -> web.Response:
        while stream.finished is None:
            self._check_alive()
            await stream.wait()
        fin = stream.finished
        text = "".join(output_piece(i) for i in range(fin.generation_tokens))
        reason = fin.finish_reason
        created = int(time.time())
        choice: dict[str, Any]
        if chat:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": text, "tool_calls": [], "reasoning_content": None},
                "logprobs": None,
                "finish_reason": reason,
                "stop_reason": None,
            }
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": reason, "stop_reason": None}
            obj = "text_completion"
        payload = {
            "id": rid,
            "object": obj,
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": usage(fin.prompt_tokens, fin.generation_tokens),
        }
        return web.Response(body=orjson.dumps(payload), content_type="application/json")

    async def _stream(
        self,
        request: web.Request,
        stream: RequestStream,
        rid: str,
        model: str,
        *,
        chat: bool,
        include_usage: bool,
        continuous_usage: bool = False,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        created = int(time.time())
        obj = "chat.completion.chunk" if chat else "text_completion"
        head = {"id": rid, "object": obj, "created": created, "model": model}
        if chat:
            first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
            opening: dict[str, Any] = {**head, "choices": [first]}
            if continuous_usage:
                opening["usage"] = usage(stream.prompt_tokens, 0)
            await resp.write(_sse(opening))
        sent = 0
        while True:
            self._check_alive()
            await stream.wait()
            fin = stream.finished
            total = fin.generation_tokens if fin is not None else stream.tokens
            out = []
            while sent < total:
                piece = output_piece(sent)
                sent += 1
                last = fin is not None and sent == total
                reason = fin.finish_reason if last and fin is not None else None
                if chat:
                    choice = {"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": reason}
                else:
                    choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": reason, "stop_reason": None}
                if last:
                    choice["stop_reason"] = None
                chunk: dict[str, Any] = {**head, "choices": [choice]}
                if continuous_usage:
                    chunk["usage"] = usage(stream.prompt_tokens, sent)
                out.append(_sse(chunk))
            if out:
                await resp.write(b"".join(out))
            if fin is not None:
                break
        if include_usage:
            await resp.write(_sse({**head, "choices": [], "usage": usage(fin.prompt_tokens, fin.generation_tokens)}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def build_app(settings: SimSettings) -> web.Application:
    """The aiohttp application of one simulator replica."""
    return SimServer(settings).app()


async def start_replicas(settings: SimSettings) -> tuple[list[SimServer], list[web.AppRunner], list[int]]:
    """Every replica of `settings` listening: the servers, their runners (`cleanup()` them), the bound ports."""
    servers = [SimServer(replica) for replica in settings.replicas()]
    runners: list[web.AppRunner] = []
    ports: list[int] = []
    try:
        for server in servers:
            runner = web.AppRunner(server.app(), handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
            runners.append(runner)
            await runner.setup()
            site = web.TCPSite(runner, settings.host, server.settings.port, backlog=4096)
            await site.start()
            ports.append(runner.addresses[0][1] if runner.addresses else server.settings.port)
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        raise
    return servers, runners, ports


async def serve(settings: SimSettings, *, ready: asyncio.Event | None = None) -> None:
    """Serve every replica until cancelled or SIGTERM/SIGINT; prints the bound addresses once listening."""
    servers, runners, ports = await start_replicas(settings)
    try:
        profile = servers[0].profile
        speed = (
            f"fixed latencies (TTFT {settings.fixed_ttft_ms or 0:g} ms, ITL {settings.fixed_itl_ms or 0:g} ms)"
            if settings.fixed_latency
            else f"{profile.name}/{profile.size_class}"
        )
        where = f"{ports[0]}" if len(ports) == 1 else f"{ports[0]}..{ports[-1]} ({len(ports)} replicas)"
        print(
            f"heteropool sim: serving {', '.join(settings.model_names)} as {speed} on http://{settings.host}:{where}",
            flush=True,
        )
        if ready is not None:
            ready.set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()
