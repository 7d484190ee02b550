"""LLM-backed mutators against a real loopback OpenAI-compatible / Ollama fake server (aiohttp.web)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from shieldstorm.errors import ConfigError, ServiceUnavailableError
from shieldstorm.storm.mutations import LLMSettings, agenerate, describe, generate
from tests.services import free_port

PROMPT = "Where is my order A1001?"


@dataclass
class FakeLLM:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    empty: bool = False


def _answer(body: dict[str, Any]) -> str:
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    tone = "paraphrase" if "Paraphrase" in system else system.split(" tone")[0].rsplit(" ", 1)[-1]
    return f"[{tone}] {user} (rewritten)"


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A real HTTP server on a loopback port, in its own thread and loop (sync and async tests use it)."""
    port = free_port()
    state = FakeLLM(url=f"http://127.0.0.1:{port}")
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def openai(request: web.Request) -> web.Response:
        body = await request.json()
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        if state.status != 200:
            return web.json_response({"error": {"message": "overloaded"}}, status=state.status)
        content = "" if state.empty else _answer(body)
        return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})

    async def ollama(request: web.Request) -> web.Response:
        body = await request.json()
        state.requests.append(body)
        return web.json_response({"message": {"role": "assistant", "content": _answer(body)}, "done": True})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", openai)
    app.router.add_post("/api/chat", ollama)
    runner = web.AppRunner(app)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_llm_types_need_an_endpoint() -> None:
    with pytest.raises(ConfigError, match="'llm_paraphrase' needs an LLM endpoint"):
        generate("g", PROMPT, seed=1, types=["llm_paraphrase"])
    # Without an endpoint the default selection is rule-based only: no LLM type, no error.
    assert not [m for m in generate("g", PROMPT, seed=1) if m.metadata.get("llm")]
    assert {i.name for i in describe() if i.requires_llm} == {"llm_paraphrase", "llm_tone"}


def test_sync_generate_with_openai_compatible_endpoint(fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test-123")
    settings = {"base_url": f"{fake_llm.url}/v1", "model": "fake-1", "api_key_env": "FAKE_LLM_KEY"}
    mutations = generate("g", PROMPT, seed=4, types=["llm_paraphrase", "casing", "llm_tone"], variants=2, llm=settings)
    by_type = [m.mutation_type for m in mutations]
    assert by_type[0] == "llm_paraphrase" and "casing" in by_type and by_type[-1] == "llm_tone"
    paraphrase = next(m for m in mutations if m.mutation_type == "llm_paraphrase")
    assert paraphrase.prompt == f"[paraphrase] {PROMPT} (rewritten)"  # identical variants are kept once
    tones = [m for m in mutations if m.mutation_type == "llm_tone"]
    assert all(m.prompt.startswith(f"[{m.metadata['tone']}]") for m in tones)
    assert all(
        r["temperature"] == 0.0 and r["model"] == "fake-1" and isinstance(r["seed"], int) for r in fake_llm.requests
    )
    assert all(h["Authorization"] == "Bearer sk-test-123" for h in fake_llm.headers)
    again = generate("g", PROMPT, seed=4, types=["llm_paraphrase", "casing", "llm_tone"], variants=2, llm=settings)
    assert again == mutations


async def test_async_generate_with_ollama_endpoint(fake_llm: FakeLLM) -> None:
    settings = LLMSettings(provider="ollama", base_url=fake_llm.url, model="llama3")
    mutations = await agenerate("g", PROMPT, seed=2, types=["llm_tone"], llm=settings)
    assert len(mutations) == 1 and mutations[0].prompt.endswith("(rewritten)")
    request = fake_llm.requests[0]
    assert request["stream"] is False and request["options"]["temperature"] == 0.0


async def test_unreachable_endpoint_fails_loudly() -> None:
    settings = LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", timeout=5)
    with pytest.raises(ServiceUnavailableError, match=r"LLM endpoint http://127.0.0.1:\d+/v1 .* is unreachable"):
        await agenerate("g", PROMPT, seed=1, types=["llm_paraphrase"], llm=settings)


def test_server_error_and_empty_answer_fail_loudly(fake_llm: FakeLLM) -> None:
    settings = {"base_url": f"{fake_llm.url}/v1", "model": "m"}
    fake_llm.status = 503
    with pytest.raises(ServiceUnavailableError, match="answered HTTP 503"):
        generate("g", PROMPT, seed=1, types=["llm_paraphrase"], llm=settings)
    fake_llm.status, fake_llm.empty = 200, True
    with pytest.raises(ServiceUnavailableError, match="returned no text"):
        generate("g", PROMPT, seed=1, types=["llm_paraphrase"], llm=settings)


def test_bad_llm_settings_and_missing_key_are_config_errors(fake_llm: FakeLLM) -> None:
    with pytest.raises(ConfigError, match=r"llm\.modle: Extra inputs are not permitted"):
        generate("g", PROMPT, seed=1, llm={"base_url": fake_llm.url, "model": "m", "modle": "x"})
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_VAR is not set"):
        generate(
            "g",
            PROMPT,
            seed=1,
            types=["llm_tone"],
            llm={"base_url": fake_llm.url, "model": "m", "api_key_env": "NO_SUCH_KEY_VAR"},
        )


async def test_sync_generate_with_llm_inside_event_loop_still_works(fake_llm: FakeLLM) -> None:
    # storm.yaml's `llm:` section spells the fields url/kind; both spellings are accepted.
    mutations = generate("g", PROMPT, seed=1, types=["llm_tone"], llm={"url": f"{fake_llm.url}/v1", "model": "m"})
    assert mutations[0].prompt.endswith("(rewritten)")


def test_llm_mutator_without_endpoint_never_yields_silently() -> None:
    from shieldstorm.storm.mutations import registry

    mutator = registry.all_mutators()["llm_paraphrase"]
    assert mutator.requires_llm
    with pytest.raises(ConfigError, match="needs an LLM endpoint"):
        mutator.mutate([], None)  # type: ignore[arg-type]
