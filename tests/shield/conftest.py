"""Real servers on loopback for the Shield's tests: an upstream (aiohttp) and the Shield itself (uvicorn)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiohttp import web
from multidict import CIMultiDict

from shieldstorm.shield.app import ShieldApp, create_app
from shieldstorm.shield.config import ShieldConfig
from shieldstorm.shield.server import uvicorn_config
from tests.services import free_port

PATTERNS = Path(__file__).parent / "patterns"


class Upstream:
    """Records what reached it. /v1/chat/completions answers with `reply` (or streams it in `chunk_size` pieces)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply = "Hello from the agent."
        self.chunk_size = 7
        self.fail_status: int | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append({"method": request.method, "path": request.path_qs,
                              "headers": CIMultiDict(request.headers), "body": body})
        if self.fail_status is not None:
            return web.json_response({"error": "upstream broke"}, status=self.fail_status)
        if request.path == "/slow":
            await asyncio.sleep(5)
        if request.path.endswith("/chat/completions"):
            document = json.loads(body or b"{}")
            if document.get("stream"):
                return await self._stream(request)
            return web.json_response({
                "id": "chatcmpl-1", "object": "chat.completion", "model": document.get("model", "m"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply},
                             "finish_reason": "stop"}],
            })
        if request.path == "/text":
            return web.Response(text=self.reply, content_type="text/plain")
        return web.json_response({"echo": body.decode("utf-8", "replace"), "path": request.path_qs})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = [self.reply[i:i + self.chunk_size] for i in range(0, len(self.reply), self.chunk_size)]
        first = {"id": "c1", "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
        await response.write(f"data: {json.dumps(first)}\n\n".encode())
        for piece in pieces:
            chunk = {"id": "c1", "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0)
        last = {"id": "c1", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    state = Upstream()
    app = web.Application(client_max_size=16 << 20)
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


class RunningShield:
    def __init__(self, url: str, shield: ShieldApp, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        self.url, self.shield, self.server, self.task = url, shield, server, task


ShieldFactory = Callable[..., Awaitable[RunningShield]]


def base_config(upstream_url: str | None, **overrides: Any) -> ShieldConfig:
    data: dict[str, Any] = {
        "upstream": {"url": upstream_url, "failure_threshold": 3, "reset_seconds": 30},
        "detection": {"patterns_dir": str(PATTERNS)},
        "audit": {"enabled": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return ShieldConfig.model_validate(data)


@pytest.fixture
async def start_shield() -> AsyncIterator[ShieldFactory]:
    running: list[RunningShield] = []

    async def start(config: ShieldConfig) -> RunningShield:
        shield = ShieldApp(config)
        app = create_app(config, shield)
        port = free_port()
        uv = uvicorn_config(app, config, host="127.0.0.1", port=port)  # the production server settings (TLS)
        server = uvicorn.Server(uv)
        task = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        scheme = "https" if config.server.tls else "http"
        handle = RunningShield(f"{scheme}://127.0.0.1:{port}", shield, server, task)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.server.should_exit = True
    for handle in running:
        await asyncio.wait_for(handle.task, 10)


@pytest.fixture(scope="session")
def _shield_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shield-data")


@pytest.fixture(autouse=True)
def _shared_pattern_cache(_shield_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One data dir for the Shield's tests: the compiled pattern database (seconds to build) is cached there."""
    monkeypatch.setenv("SHIELDSTORM_DATA_DIR", str(_shield_data_dir))
