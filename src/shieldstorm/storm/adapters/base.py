"""The adapter contract: how Storm talks to an agent under test."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from shieldstorm.storm.mutations.base import Message


class AgentError(Exception):
    """The agent failed to answer (HTTP error, bad response, crash). The message is recorded as the cause."""


@dataclass(frozen=True)
class CallMeta:
    golden_id: str = ""
    mutation_type: str = ""
    system_prompt: str | None = None


@dataclass
class AgentOutput:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class Agent(ABC):
    """One agent under test. `start`/`close` bracket a run (e.g. one pooled HTTP session per run)."""

    description: str = "agent"

    async def start(self) -> None:  # noqa: B027 - optional hook, most adapters hold no resources
        """Acquire run-wide resources."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release run-wide resources."""

    @abstractmethod
    async def call(self, messages: list[Message], meta: CallMeta) -> AgentOutput:
        """Send a conversation and return the agent's reply; raise AgentError with a cause on failure."""

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def messages_as_dicts(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def last_user_prompt(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    return messages[-1].content if messages else ""


def extract_path(document: Any, path: str) -> Any:
    """Follow `choices.0.message.content` through dicts and lists; raise AgentError naming the missing step."""
    current = document
    if not path:
        return current
    walked: list[str] = []
    for step in path.split("."):
        walked.append(step)
        if isinstance(current, dict) and step in current:
            current = current[step]
        elif isinstance(current, list) and step.lstrip("-").isdigit() and -len(current) <= int(step) < len(current):
            current = current[int(step)]
        else:
            raise AgentError(f"response has no {'.'.join(walked)!r} (response_path {path!r})")
    return current


def as_text(value: Any) -> str:
    """Agent replies that are not strings (dicts, numbers) become JSON text, so JSON checks still work."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def coerce_output(value: Any) -> AgentOutput:
    """Accept what user callables typically return: str, {'content', 'tool_calls'}, or a message object."""
    if isinstance(value, AgentOutput):
        return value
    if isinstance(value, str):
        return AgentOutput(value)
    if isinstance(value, dict) and ("content" in value or "tool_calls" in value):
        return AgentOutput(as_text(value.get("content")), list(value.get("tool_calls") or []))
    content = getattr(value, "content", None)
    if content is not None:
        calls = getattr(value, "tool_calls", None) or []
        return AgentOutput(as_text(content), [dict(c) if isinstance(c, dict) else {"call": str(c)} for c in calls])
    return AgentOutput(as_text(value))
