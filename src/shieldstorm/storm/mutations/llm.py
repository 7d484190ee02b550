"""Optional LLM-backed mutators (paraphrase, tone) through an OpenAI-compatible or Ollama endpoint.

They run only when an endpoint is configured explicitly (`LLMSettings`). A configured endpoint that is
unreachable, times out or returns no text raises `ServiceUnavailableError` (CLI exit 2): Storm never
turns a broken LLM into a silent run with fewer (or zero) mutations. Requests use temperature 0 and a
seed derived from the run seed, so providers that honour `seed` return the same text again.
"""

from __future__ import annotations

import asyncio
import os
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from shieldstorm.errors import ConfigError, ServiceUnavailableError
from shieldstorm.storm.mutations._common import Params, params_of
from shieldstorm.storm.mutations._data import load_data
from shieldstorm.storm.mutations._text import fill, pick
from shieldstorm.storm.mutations.base import Message, MutationContext, Mutator


class LLMSettings(BaseModel):
    """Where the LLM-backed mutators send their requests (`url`/`kind` are accepted as aliases)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    provider: Literal["openai", "ollama"] = Field(default="openai", validation_alias=AliasChoices("provider", "kind"))
    base_url: str = Field(
        description="e.g. http://127.0.0.1:11434 (ollama) or http://host:8000/v1 (openai)",
        validation_alias=AliasChoices("base_url", "url"),
    )
    model: str
    # Name of the environment variable holding the API key: the key itself never sits in a config file.
    api_key_env: str | None = None
    timeout: float = Field(default=60.0, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_concurrency: int = Field(default=4, ge=1, le=256)


class LLMMutator(Mutator):
    """A mutator that asks an LLM to rewrite the last user message (listed by the registry like any other;
    `generate` runs it only when an LLM endpoint is configured)."""

    requires_llm: ClassVar[bool] = True
    attacks: ClassVar[tuple[str, ...]] = ("robustness",)

    @abstractmethod
    def prompt(self, text: str, ctx: MutationContext) -> list[dict[str, str]]:
        """The chat messages asking the LLM for the rewrite."""

    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        # The synchronous, offline interface cannot call an LLM: fail loudly rather than yield nothing.
        raise ConfigError(f"mutation type {self.name!r} needs an LLM endpoint: use generate(..., llm=...)")

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "llm": True}


class LLMParaphrase(LLMMutator):
    name = "llm_paraphrase"
    category = "paraphrase"
    description = "Asks the configured LLM for a meaning-preserving paraphrase."

    def prompt(self, text: str, ctx: MutationContext) -> list[dict[str, str]]:
        data = load_data("llm")["paraphrase"]
        return [
            {"role": "system", "content": data["system"]},
            {"role": "user", "content": fill(data["user"], text=text)},
        ]


class ToneParams(Params):
    tones: list[str] | None = None


class LLMTone(LLMMutator):
    name = "llm_tone"
    category = "tone"
    default_weight = 0.9
    description = "Asks the configured LLM to rewrite the request in another tone (rude, urgent, ...)."
    params_model = ToneParams

    def prompt(self, text: str, ctx: MutationContext) -> list[dict[str, str]]:
        data = load_data("llm")["tone"]
        tone = pick(ctx.rng, params_of(ToneParams, ctx).tones or data["tones"])
        ctx.metadata["tone"] = tone
        system = fill(data["system"], tone=tone)
        return [{"role": "system", "content": system}, {"role": "user", "content": fill(data["user"], text=text)}]


MUTATORS: tuple[type[LLMMutator], ...] = (LLMParaphrase, LLMTone)


class LLMClient:
    """One pooled aiohttp session for all LLM requests of a generation."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(settings.max_concurrency)

    async def __aenter__(self) -> LLMClient:
        headers = {"content-type": "application/json"}
        if self.settings.api_key_env:
            key = os.environ.get(self.settings.api_key_env)
            if not key:
                raise ConfigError(f"llm.api_key_env: environment variable {self.settings.api_key_env} is not set")
            headers["authorization"] = f"Bearer {key}"
        self._session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=self.settings.timeout)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _request(self, messages: list[dict[str, str]], seed: int) -> tuple[str, dict[str, Any]]:
        s = self.settings
        base = s.base_url.rstrip("/")
        if s.provider == "ollama":
            body = {
                "model": s.model,
                "messages": messages,
                "stream": False,
                "options": {"temperature": s.temperature, "seed": seed},
            }
            return f"{base}/api/chat", body
        body = {"model": s.model, "messages": messages, "temperature": s.temperature, "seed": seed}
        return f"{base}/chat/completions", body

    async def complete(self, messages: list[dict[str, str]], seed: int) -> str:
        if self._session is None:
            raise RuntimeError("LLMClient used outside 'async with'")
        url, body = self._request(messages, seed)
        where = f"LLM endpoint {self.settings.base_url} ({self.settings.provider}, model {self.settings.model})"
        try:
            async with self._limit, self._session.post(url, json=body) as response:
                if response.status != 200:
                    detail = (await response.text())[:200].replace("\n", " ")
                    raise ServiceUnavailableError(f"{where} answered HTTP {response.status}: {detail}")
                payload = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ServiceUnavailableError(f"{where} is unreachable: {type(exc).__name__}: {exc}") from exc
        text = _extract(payload, self.settings.provider)
        if not text.strip():
            raise ServiceUnavailableError(f"{where} returned no text")
        return text.strip()


def _extract(payload: Any, provider: str) -> str:
    try:
        if provider == "ollama":
            return str(payload["message"]["content"] or "")
        return str(payload["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError):
        return ""


def as_settings(value: LLMSettings | BaseModel | Mapping[str, Any] | None) -> LLMSettings | None:
    """Settings from a model, a mapping or another config model with the same fields (e.g. storm.yaml's)."""
    if value is None or isinstance(value, LLMSettings):
        return value
    from pydantic import ValidationError

    raw = value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else dict(value)
    try:
        return LLMSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"llm.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from exc
