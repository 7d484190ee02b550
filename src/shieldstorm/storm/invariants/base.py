"""The invariant contract: built-ins and plugins (entry point group `shieldstorm.invariants`) implement it.

A plugin is a subclass of `Invariant` with a `Config` model (a subclass of `InvariantConfig` whose `type` is a
`Literal` naming it). It is listed in the plugin's `pyproject.toml`:

    [project.entry-points."shieldstorm.invariants"]
    my_check = "my_package.checks:MyCheck"

and used in `storm.yaml` as `- type: my_check` with the fields of its `Config`.
"""

from __future__ import annotations

import builtins
import functools
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shieldstorm.storm.models import AgentReply, Severity
from shieldstorm.storm.mutations.base import Mutation


class InvariantConfig(BaseModel):
    """Fields every invariant accepts. Subclasses narrow `type` to a `Literal`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str | None = Field(default=None, description="Label in reports; defaults to the type")
    severity: Severity = "medium"
    applies_to: list[str] | None = Field(
        default=None, description="Only check mutations of these types (default: every mutation)"
    )
    skip: list[str] = Field(default_factory=list, description="Never check mutations of these types")


@dataclass(frozen=True)
class CheckContext:
    """Everything an invariant may look at for one case."""

    reply: AgentReply
    mutation: Mutation
    expected: str | None = None
    baseline: AgentReply | None = None
    system_prompt: str | None = None
    canary: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.reply.text

    @property
    def prompt(self) -> str:
        return self.mutation.prompt


@dataclass(frozen=True)
class Check:
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class BuildContext:
    """What an invariant may need when it is built: the config file's directory and run-wide settings."""

    base_dir: Path = Path()
    system_prompt: str | None = None
    canary: str | None = None


class Invariant(ABC):
    """One property that must hold for every agent reply it applies to."""

    type: ClassVar[str]
    Config: ClassVar[builtins.type[InvariantConfig]]
    # Invariants that only make sense with a reply (most) fail when the agent errored; `latency` too.
    needs_output: ClassVar[bool] = True

    def __init__(self, config: InvariantConfig, build: BuildContext) -> None:
        self.config = config
        self.build = build

    @property
    def name(self) -> str:
        return self.config.name or self.config.type

    @property
    def severity(self) -> Severity:
        return self.config.severity

    def applies(self, mutation_type: str) -> bool:
        if mutation_type in self.config.skip:
            return False
        return self.config.applies_to is None or mutation_type in self.config.applies_to

    @abstractmethod
    def check(self, ctx: CheckContext) -> Check:
        """Return whether the invariant holds for this reply, and why not."""

    @functools.cached_property
    def is_sync(self) -> bool:
        """True when `check` can be called directly (no coroutine needed): the runner's fast path."""
        return type(self).acheck is Invariant.acheck and not inspect.iscoroutinefunction(type(self).check)

    async def acheck(self, ctx: CheckContext) -> Check:
        result: Any = self.check(ctx)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]


def shorten(text: str, limit: int = 80) -> str:
    """A one-line excerpt for failure reasons."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
