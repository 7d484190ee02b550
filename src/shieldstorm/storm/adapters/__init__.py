"""Adapters for the agent under test: HTTP, OpenAI-compatible chat, Python callable, subprocess, LangChain."""

from __future__ import annotations

from shieldstorm.errors import ConfigError
from shieldstorm.storm.adapters.base import Agent, AgentError, AgentOutput, CallMeta
from shieldstorm.storm.config import (
    HttpAgentConfig,
    LangChainAgentConfig,
    OpenAIAgentConfig,
    PythonAgentConfig,
    StormConfig,
    SubprocessAgentConfig,
)

__all__ = ["Agent", "AgentError", "AgentOutput", "CallMeta", "build_agent"]


def build_agent(config: StormConfig, *, target_url: str | None = None, connections: int | None = None) -> Agent:
    """The agent for `config.agent`; `target_url` re-points an HTTP/OpenAI agent (e.g. through the Shield)."""
    spec = config.agent
    pool = connections or config.run.concurrency
    if isinstance(spec, HttpAgentConfig):
        from shieldstorm.storm.adapters.http import HttpAgent

        return HttpAgent(spec, url=target_url, connections=pool)
    if isinstance(spec, OpenAIAgentConfig):
        from shieldstorm.storm.adapters.http import OpenAIAgent

        return OpenAIAgent(spec, url=target_url, connections=pool)
    if target_url is not None:
        raise ConfigError(f"--target-url only applies to http and openai agents, not {spec.type!r}")
    from shieldstorm.storm.adapters import local

    if isinstance(spec, PythonAgentConfig):
        return local.PythonAgent(spec, config.base_dir)
    if isinstance(spec, SubprocessAgentConfig):
        return local.SubprocessAgent(spec, config.base_dir)
    if isinstance(spec, LangChainAgentConfig):
        return local.LangChainAgent(spec, config.base_dir)
    raise ConfigError(f"agent.type: unsupported {spec.type!r}")
