"""In-process and local agents: a Python callable, a subprocess (stdin → stdout), a LangChain Runnable."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import shlex
from pathlib import Path
from typing import Any

from shieldstorm.errors import ConfigError
from shieldstorm.storm.adapters.base import (
    Agent,
    AgentError,
    AgentOutput,
    CallMeta,
    as_text,
    coerce_output,
    extract_path,
    last_user_prompt,
    messages_as_dicts,
)
from shieldstorm.storm.config import LangChainAgentConfig, PythonAgentConfig, SubprocessAgentConfig
from shieldstorm.storm.loader import load_object
from shieldstorm.storm.mutations.base import Message


class PythonAgent(Agent):
    """`module:function` taking the messages (list of {role, content}) or the prompt; sync or async."""

    def __init__(self, config: PythonAgentConfig, base_dir: Path) -> None:
        self.config = config
        self.fn = load_object(config.callable, base_dir, what="agent callable")
        if not callable(self.fn):
            raise ConfigError(f"agent.callable: {config.callable!r} is not callable")
        self.is_async = inspect.iscoroutinefunction(self.fn) or inspect.iscoroutinefunction(
            getattr(self.fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
        )
        self.description = f"python {config.callable}"

    async def call(self, messages: list[Message], meta: CallMeta) -> AgentOutput:
        argument: Any = messages_as_dicts(messages) if self.config.input == "messages" else last_user_prompt(messages)
        try:
            if self.is_async:
                result = await self.fn(argument)
            elif self.config.thread:
                result = await asyncio.to_thread(self.fn, argument)
            else:
                result = self.fn(argument)
        except Exception as exc:  # the agent's own crash is a recorded failure, not a Storm crash
            raise AgentError(f"agent raised {type(exc).__name__}: {exc}") from None
        return coerce_output(result)


class SubprocessAgent(Agent):
    """One process per call: the prompt (or {"messages": [...]} as JSON) on stdin, the reply on stdout."""

    def __init__(self, config: SubprocessAgentConfig, base_dir: Path) -> None:
        self.config = config
        self.argv = shlex.split(config.command) if isinstance(config.command, str) else list(config.command)
        self.cwd = str((base_dir / config.cwd) if config.cwd else base_dir)
        self.env = {**os.environ, **config.env}
        self.description = f"subprocess {shlex.join(self.argv)}"

    async def call(self, messages: list[Message], meta: CallMeta) -> AgentOutput:
        if self.config.input == "json":
            payload = json.dumps({"messages": messages_as_dicts(messages), "system_prompt": meta.system_prompt})
        else:
            payload = last_user_prompt(messages)
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                env=self.env,
            )
        except OSError as exc:
            raise AgentError(f"cannot start {self.argv[0]!r}: {exc}") from None
        try:
            stdout, stderr = await process.communicate(payload.encode("utf-8"))
        finally:
            # On a runner timeout (cancellation) the process must not outlive the call.
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.returncode != 0:
            last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise AgentError(f"agent process exited with {process.returncode}: {last[0][:200]}")
        text = stdout.decode("utf-8", "replace")
        if self.config.response_path is not None:
            try:
                document = json.loads(text)
            except ValueError:
                raise AgentError("agent process printed non-JSON, expected JSON (response_path is set)") from None
            return AgentOutput(as_text(extract_path(document, self.config.response_path)))
        return AgentOutput(text.strip())


class LangChainAgent(Agent):
    """A LangChain Runnable (anything with `ainvoke`); messages go in as (role, content) tuples."""

    def __init__(self, config: LangChainAgentConfig, base_dir: Path) -> None:
        self.config = config
        self.runnable = load_object(config.runnable, base_dir, what="LangChain runnable")
        if not hasattr(self.runnable, "ainvoke"):
            raise ConfigError(f"agent.runnable: {config.runnable!r} has no ainvoke(); is it a LangChain Runnable?")
        self.description = f"langchain {config.runnable}"

    async def call(self, messages: list[Message], meta: CallMeta) -> AgentOutput:
        value: Any
        if self.config.input == "messages":
            roles = {"user": "human", "assistant": "ai", "system": "system", "tool": "tool"}
            value = [(roles[m.role], m.content) for m in messages]
            if meta.system_prompt and not any(m.role == "system" for m in messages):
                value.insert(0, ("system", meta.system_prompt))
        else:
            value = last_user_prompt(messages)
        if self.config.input_key:
            value = {self.config.input_key: value}
        try:
            result = await self.runnable.ainvoke(value)
        except Exception as exc:  # the runnable's failure is the agent's failure
            raise AgentError(f"runnable raised {type(exc).__name__}: {exc}") from None
        return coerce_output(result)
