"""Base classes for built-in mutators that rewrite the last user message."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from shieldstorm.storm.mutations._text import replace_user, user_prompt
from shieldstorm.storm.mutations.base import Message, MutationContext, Mutator

P = TypeVar("P", bound=BaseModel)


class Params(BaseModel):
    """Base for mutator parameter models: packs may set only the declared keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def params_of(model: type[P], ctx: MutationContext) -> P:
    """The validated parameters of this mutation (pack values; defaults otherwise)."""
    return model.model_validate(dict(ctx.params))


class TextMutator(Mutator):
    """Rewrites the last user message; returning None (or the same text) means 'does not apply'."""

    # Attack-type mutators put text into a conversation that may have no user turn yet.
    needs_user_text: ClassVar[bool] = True

    def mutate(self, messages: list[Message], ctx: MutationContext) -> list[list[Message]]:
        prompt = user_prompt(messages)
        if prompt is None:
            if self.needs_user_text:
                return []
            prompt = ""
        mutated = self.transform(prompt, ctx)
        if mutated is None or mutated == prompt:
            return []
        return [replace_user(messages, mutated)]

    @abstractmethod
    def transform(self, text: str, ctx: MutationContext) -> str | None:
        """The mutated user text."""


def as_str_list(value: Any) -> list[str]:
    return [str(item) for item in value]
