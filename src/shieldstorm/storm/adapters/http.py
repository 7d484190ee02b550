"""HTTP agents: a JSON endpoint with a body template, and OpenAI-compatible chat completions.

One pooled aiohttp session per run: opening a client per call (as Flakestorm does) costs ~7x per request.
Retries are off by default, because a retried flaky answer hides exactly what a storm run should find.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import aiohttp
from yarl import URL

from shieldstorm.errors import ConfigError
from shieldstorm.storm.adapters.base import (
    Agent,
    AgentError,
    AgentOutput,
    CallMeta,
    as_text,
    extract_path,
    last_user_prompt,
    messages_as_dicts,
)
from shieldstorm.storm.adapters.template import check_template, compile_body, placeholders
from shieldstorm.storm.config import HttpAgentConfig, OpenAIAgentConfig
from shieldstorm.storm.mutations.base import Message

_ENV_REF = re.compile(r"\$\{(\w+)\}")
_MAX_ERROR_BODY = 200


def expand_env(value: str, where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(replace, value)


class _HttpBase(Agent):
    def __init__(self, url: str, headers: dict[str, str], retries: int, connections: int) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", **headers}
        self.retries = retries
        self.connections = connections
        self.session: aiohttp.ClientSession | None = None
        self._parsed_url: URL | str = url  # parsed once in start(), not by aiohttp on every request

    async def start(self) -> None:
        # Per-call timeouts are enforced by the runner; the session only bounds pooled connections.
        try:
            self._parsed_url = URL(self.url)
        except (TypeError, ValueError):
            self._parsed_url = self.url  # let aiohttp report a bad URL per call, as before
        connector = aiohttp.TCPConnector(limit=max(1, self.connections), ttl_dns_cache=300)
        # Headers live on the session so they are not merged again on every request.
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None), headers=self.headers
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def post(self, body: bytes, method: str = "POST") -> Any:
        """Send the body and return the decoded JSON (or text) reply; retry only connection-level failures."""
        if self.session is None:
            raise RuntimeError("agent not started")
        attempt = 0
        while True:
            try:
                async with self.session.request(method, self._parsed_url, data=body) as response:
                    raw = await response.read()
                    if response.status >= 400:
                        snippet = raw[:_MAX_ERROR_BODY].decode("utf-8", "replace").strip()
                        error = AgentError(f"HTTP {response.status} from agent: {snippet}")
                        if response.status >= 500 and attempt < self.retries:
                            attempt += 1
                            continue
                        raise error
                    text = raw.decode("utf-8", "replace")
                    if "json" in response.headers.get("Content-Type", "") or text[:1] in "{[":
                        try:
                            return json.loads(text)
                        except ValueError:
                            return text
                    return text
            except aiohttp.ClientError as exc:
                if attempt < self.retries:
                    attempt += 1
                    continue
                raise AgentError(f"cannot reach agent at {self.url}: {type(exc).__name__}: {exc}") from None


class HttpAgent(_HttpBase):
    def __init__(self, config: HttpAgentConfig, *, url: str | None = None, connections: int = 16) -> None:
        headers = {k: expand_env(v, f"agent.headers.{k}") for k, v in config.headers.items()}
        super().__init__(url or config.url, headers, config.retries, connections)
        check_template(config.body)
        self.config = config
        self.description = f"http {self.url}"
        # Compiled once per run: the template is walked once, and `messages` (a list of dicts per request)
        # is only built when the template uses it.
        self._render = compile_body(config.body)
        self._wants_messages = "messages" in placeholders(config.body)

    async def call(self, messages: list[Message], meta: CallMeta) -> AgentOutput:
        values = {
            "prompt": last_user_prompt(messages),
            "messages": messages_as_dicts(messages) if self._wants_messages else None,
            "system_prompt": meta.system_prompt,
            "golden_id": meta.golden_id,
            "mutation_type": meta.mutation_type,
        }
        reply = await self.post(self._render(values), self.config.method)
        if isinstance(reply, str):
            if self.config.response_path:
                raise AgentError(f"agent replied with non-JSON text, expected JSON with {self.config.response_path!r}")
            return AgentOutput(reply)
        path = self.config.response_path
        if isinstance(reply, dict) and path and "." not in path and path in reply:  # the common one-key path
            return AgentOutput(as_text(reply[path]))
        return AgentOutput(as_text(extract_path(reply, path)))


def chat_completions_url(url: str) -> str:
    base = url.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


class OpenAIAgent(_HttpBase):
    def __init__(self, config: OpenAIAgentConfig, *, url: str | None = None, connections: int = 16) -> None:
        headers = {k: expand_env(v, f"agent.headers.{k}") for k, v in config.headers.items()}
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ConfigError(f"agent.api_key_env: environment variable {config.api_key_env} is not set")
            headers.setdefault("Authorization", f"Bearer {key}")
        super().__init__(chat_completions_url(url or config.url), headers, config.retries, connections)
        self.config = config
        self.description = f"openai {self.url} model={config.model}"

    async def call(self, messages: list[Message], meta: CallMeta) -> AgentOutput:
        chat = messages_as_dicts(messages)
        if meta.system_prompt and not any(m["role"] == "system" for m in chat):
            chat.insert(0, {"role": "system", "content": meta.system_prompt})
        payload: dict[str, Any] = {"model": self.config.model, "messages": chat}
        if self.config.temperature is not None:
            payload["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            payload["max_tokens"] = self.config.max_tokens
        if self.config.tools:
            payload["tools"] = self.config.tools
        reply = await self.post(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        if not isinstance(reply, dict):
            raise AgentError("chat endpoint replied with non-JSON text")
        message = extract_path(reply, "choices.0.message")
        if not isinstance(message, dict):
            raise AgentError("chat endpoint reply has no choices[0].message object")
        calls = message.get("tool_calls") or []
        return AgentOutput(as_text(message.get("content")), [c for c in calls if isinstance(c, dict)])
