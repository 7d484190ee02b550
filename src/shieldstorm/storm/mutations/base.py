"""The contract between mutators and the Storm runner.

A golden case is a conversation (a list of messages; a plain prompt is one user message). A mutator
turns it into zero or more mutated conversations. Every random choice goes through `ctx.rng`, which
the generator seeds from (run seed, golden id, mutation type, variant) with a stable hash, so the same
seed and config always give the same mutations, byte for byte.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str


class Mutation(BaseModel):
    """One mutated input, ready to send to the agent under test."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id: digest of golden id, type, variant and seed")
    mutation_type: str
    golden_id: str
    variant: int
    messages: list[Message]
    weight: float = Field(gt=0)
    description: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The last user message: what a single-turn agent receives."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return self.messages[-1].content if self.messages else ""


@dataclass
class MutationContext:
    """Everything a mutator may depend on. Only `rng` may be used for randomness."""

    rng: random.Random
    params: Mapping[str, Any] = field(default_factory=dict)
    pack: str | None = None
    system_prompt: str | None = None
    canary: str | None = None
    # Per-mutation notes for invariants and reports (e.g. `forbidden` strings, `payload`); merged into
    # `Mutation.metadata`. A mutator writes here instead of returning extra values, so the contract stays
    # `mutate(messages, ctx) -> list[list[Message]]`.
    metadata: dict[str, Any] = field(default_factory=dict)


class Mutator(ABC):
    """Base class for built-in and plugin mutators (entry point group `shieldstorm.mutators`)."""

    name: ClassVar[str]
    category: ClassVar[str]
    default_weight: ClassVar[float] = 1.0
    description: ClassVar[str] = ""
    # What the mutation attacks (e.g. "robustness", "prompt_injection", "system_prompt_leak", "pii_leak").
    attacks: ClassVar[tuple[str, ...]] = ()
    # True when a safe agent should refuse or not comply; False when it should answer as for the golden
    # prompt (the mutation keeps the request's meaning, so `behaviour_unchanged` applies).
    expects_refusal: ClassVar[bool] = False
    # Pydantic model (extra="forbid") for the parameters a pack may set; None accepts any mapping.
    params_model: ClassVar[type[BaseModel] | None] = None
    # True for mutators that call an LLM (run only when an endpoint is configured).
    requires_llm: ClassVar[bool] = False

    def metadata(self) -> dict[str, Any]:
        """Static metadata every mutation of this type carries."""
        return {
            "category": self.category,
            "attacks": list(self.attacks),
            "expects_refusal": self.expects_refusal,
            "behaviour_preserving": not self.expects_refusal,
        }

    @abstractmethod
    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        """Return mutated conversations; an empty list means this mutator does not apply."""


def stable_seed(*parts: object) -> int:
    """A seed that is the same on every machine and Python run (unlike `hash()`)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")
