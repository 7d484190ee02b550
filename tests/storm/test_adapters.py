from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shieldstorm.errors import ConfigError
from shieldstorm.storm.adapters import build_agent
from shieldstorm.storm.adapters.base import CallMeta
from shieldstorm.storm.adapters.template import fill, render_body
from shieldstorm.storm.config import parse_config
from shieldstorm.storm.mutations.base import Message
from shieldstorm.storm.runner import run_storm
from tests.storm.agents import TEST_MUTATORS, serve

TRICKY = 'He said "stop"\nand left \\ {{prompt}} </script> \u2028 \x00'


def config_for(agent: dict[str, Any], tmp_path: Path, **extra: Any) -> Any:
    return parse_config(
        {"agent": agent, "golden": ["hello"], "invariants": [{"type": "output_not_empty"}], **extra},
        base_dir=tmp_path,
    )


def test_template_keeps_types_and_escapes() -> None:
    template = {"q": "{{prompt}}", "history": "{{messages}}", "note": "id={{golden_id}}", "n": 3}
    values = {"prompt": TRICKY, "messages": [{"role": "user", "content": TRICKY}], "golden_id": "g1"}
    body = json.loads(render_body(template, values))
    assert body == {"q": TRICKY, "history": [{"role": "user", "content": TRICKY}], "note": "id=g1", "n": 3}
    assert fill(["{{ prompt }}"], {"prompt": 1}) == [1]


async def test_http_body_template_response_path_and_env_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((await request.json(), request.headers.get("Authorization")))
        return web.json_response({"data": {"choices": [{"text": "ok"}]}})

    monkeypatch.setenv("STORM_TEST_TOKEN", "t0k")
    with serve({"/chat": handler}) as url:
        agent_spec = {
            "type": "http",
            "url": f"{url}/chat",
            "body": '{"input": {"text": "{{prompt}}"}, "turns": "{{messages}}"}',
            "response_path": "data.choices.0.text",
            "headers": {"Authorization": "Bearer ${STORM_TEST_TOKEN}"},
        }
        config = config_for(agent_spec, tmp_path)
        async with build_agent(config) as agent:
            out = await agent.call([Message(role="user", content=TRICKY)], CallMeta())
        assert out.text == "ok"
        body, auth = seen[0]
        assert body["input"]["text"] == TRICKY and body["turns"][0]["content"] == TRICKY
        assert auth == "Bearer t0k"
        bad = config_for({**agent_spec, "response_path": "data.missing"}, tmp_path)
        run = await run_storm(bad, progress=False, mutators={"shout": TEST_MUTATORS["shout"]})
        assert run.results[0].error == "response has no 'data.missing' (response_path 'data.missing')"
    monkeypatch.delenv("STORM_TEST_TOKEN")
    with pytest.raises(ConfigError, match=r"agent.headers.Authorization: environment variable STORM_TEST_TOKEN"):
        build_agent(config_for(agent_spec, tmp_path))
    with pytest.raises(ConfigError, match=r"unknown placeholder \{\{promt\}\}"):
        build_agent(config_for({"type": "http", "url": "http://x", "body": {"q": "{{promt}}"}}, tmp_path))


async def test_http_retries_are_off_by_default_and_configurable(tmp_path: Path) -> None:
    calls = {"n": 0}

    async def flaky(request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] % 2 == 1:
            return web.json_response({"error": "try again"}, status=503)
        return web.json_response({"output": "fine"})

    with serve({"/a": flaky}) as url:
        run = await run_storm(
            config_for({"type": "http", "url": f"{url}/a"}, tmp_path, run={"baseline": False}),
            progress=False,
            mutators={"shout": TEST_MUTATORS["shout"]},
        )
        assert run.results[0].error is not None and "HTTP 503" in run.results[0].error
        calls["n"] = 0
        run = await run_storm(
            config_for({"type": "http", "url": f"{url}/a", "retries": 1}, tmp_path, run={"baseline": False}),
            progress=False,
            mutators={"shout": TEST_MUTATORS["shout"]},
        )
        assert run.results[0].output == "fine" and calls["n"] == 2


async def test_unreachable_http_agent_is_a_recorded_failure(tmp_path: Path) -> None:
    from tests.services import free_port

    config = config_for({"type": "http", "url": f"http://127.0.0.1:{free_port()}/x"}, tmp_path)
    run = await run_storm(config, progress=False, mutators={"shout": TEST_MUTATORS["shout"]})
    assert run.results[0].error is not None and run.results[0].error.startswith("cannot reach agent")
    assert run.score == 0.0


async def test_python_callables_sync_async_from_config_dir(tmp_path: Path) -> None:
    (tmp_path / "my_agents.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            def sync_agent(messages):
                return "sync:" + messages[-1]["content"]

            async def async_agent(prompt):
                await asyncio.sleep(0)
                return {"content": "async:" + prompt, "tool_calls": [{"id": "t", "function": {"name": "f"}}]}

            def crashing(messages):
                raise ValueError("agent bug")
            """
        ),
        encoding="utf-8",
    )
    for spec, expected in [
        ({"type": "python", "callable": "my_agents:sync_agent"}, "sync:HELLO"),
        ({"type": "python", "callable": "my_agents:async_agent", "input": "prompt"}, "async:HELLO"),
        ({"type": "python", "callable": "my_agents:sync_agent", "thread": False}, "sync:HELLO"),
    ]:
        run = await run_storm(config_for(spec, tmp_path), progress=False, mutators={"shout": TEST_MUTATORS["shout"]})
        assert run.results[0].output == expected
    run = await run_storm(
        config_for({"type": "python", "callable": "my_agents:async_agent", "input": "prompt"}, tmp_path),
        progress=False,
        mutators={"shout": TEST_MUTATORS["shout"]},
    )
    assert run.results[0].tool_calls == [{"id": "t", "function": {"name": "f"}}]
    run = await run_storm(
        config_for({"type": "python", "callable": "my_agents:crashing"}, tmp_path),
        progress=False,
        mutators={"shout": TEST_MUTATORS["shout"]},
    )
    assert run.results[0].error == "agent raised ValueError: agent bug"
    with pytest.raises(ConfigError, match="has no attribute 'nope'"):
        build_agent(config_for({"type": "python", "callable": "my_agents:nope"}, tmp_path))
    with pytest.raises(ConfigError, match="cannot import agent callable module 'missing_mod'"):
        build_agent(config_for({"type": "python", "callable": "missing_mod:f"}, tmp_path))


async def test_subprocess_agent_text_and_json(tmp_path: Path) -> None:
    (tmp_path / "agent_cli.py").write_text(
        textwrap.dedent(
            """
            import json, sys
            data = sys.stdin.read()
            if data.startswith("{"):
                doc = json.loads(data)
                print(json.dumps({"reply": "turns=%d" % len(doc["messages"])}))
            elif "FAIL" in data:
                sys.stderr.write("something broke\\n")
                sys.exit(3)
            else:
                print("got: " + data)
            """
        ),
        encoding="utf-8",
    )
    text = config_for({"type": "subprocess", "command": [sys.executable, "agent_cli.py"]}, tmp_path)
    run = await run_storm(text, progress=False, mutators={"shout": TEST_MUTATORS["shout"]})
    assert run.results[0].output == "got: HELLO"
    as_json = config_for(
        {"type": "subprocess", "command": f"{sys.executable} agent_cli.py", "input": "json", "response_path": "reply"},
        tmp_path,
    )
    run = await run_storm(as_json, progress=False, mutators={"shout": TEST_MUTATORS["shout"]})
    assert run.results[0].output == "turns=1"
    failing = config_for({"type": "subprocess", "command": [sys.executable, "agent_cli.py"]}, tmp_path, golden=["fail"])
    run = await run_storm(failing, progress=False, mutators={"shout": TEST_MUTATORS["shout"]})
    assert run.results[0].error == "agent process exited with 3: something broke"


async def test_langchain_runnable(tmp_path: Path) -> None:
    pytest.importorskip("langchain_core", reason="optional extra `langchain` not installed")
    (tmp_path / "chain.py").write_text(
        textwrap.dedent(
            """
            from langchain_core.messages import AIMessage
            from langchain_core.runnables import RunnableLambda

            def _reply(messages):
                last = messages.to_messages()[-1] if hasattr(messages, "to_messages") else messages[-1]
                content = last.content if hasattr(last, "content") else last[1]
                return AIMessage(content="lc:" + content)

            runnable = RunnableLambda(_reply)
            by_key = RunnableLambda(lambda d: "key:" + d["question"])
            """
        ),
        encoding="utf-8",
    )
    run = await run_storm(
        config_for({"type": "langchain", "runnable": "chain:runnable"}, tmp_path),
        progress=False,
        mutators={"shout": TEST_MUTATORS["shout"]},
    )
    assert run.results[0].output == "lc:HELLO", run.results[0].error
    run = await run_storm(
        config_for(
            {"type": "langchain", "runnable": "chain:by_key", "input": "prompt", "input_key": "question"}, tmp_path
        ),
        progress=False,
        mutators={"shout": TEST_MUTATORS["shout"]},
    )
    assert run.results[0].output == "key:HELLO"


async def test_python_multi_turn_plays_each_turn(tmp_path: Path) -> None:
    (tmp_path / "memory_agent.py").write_text(
        "def respond(messages):\n"
        "    users = [m['content'] for m in messages if m['role'] == 'user']\n"
        "    assistants = [m for m in messages if m['role'] == 'assistant']\n"
        "    return f'turn {len(users)} after {len(assistants)} replies: ' + users[-1]\n",
        encoding="utf-8",
    )
    config = config_for(
        {"type": "python", "callable": "memory_agent:respond"},
        tmp_path,
        golden=[{"id": "conv", "turns": ["one", "two", "three"]}],
    )
    run = await run_storm(config, progress=False, mutators={"shout": TEST_MUTATORS["shout"]})
    assert run.baselines[0].output == "turn 3 after 2 replies: three"
    assert run.results[0].output == "turn 3 after 2 replies: THREE"


async def test_target_url_repoints_http_agents_only(tmp_path: Path) -> None:
    async def direct(request: web.Request) -> web.Response:
        return web.json_response({"output": "direct"})

    async def shielded(request: web.Request) -> web.Response:
        return web.json_response({"output": "through shield"})

    with serve({"/agent": direct}) as first, serve({"/agent": shielded}) as second:
        config = config_for({"type": "http", "url": f"{first}/agent"}, tmp_path)
        run = await run_storm(
            config, progress=False, mutators={"shout": TEST_MUTATORS["shout"]}, target_url=f"{second}/agent"
        )
        assert run.results[0].output == "through shield"
        assert run.agent == f"http {second}/agent"
    with pytest.raises(ConfigError, match="only applies to http and openai agents"):
        build_agent(config_for({"type": "python", "callable": "x:y"}, tmp_path), target_url="http://x")
