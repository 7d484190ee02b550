"""Result models of a storm run. `StormRun` is what the JSON report holds, so it round-trips exactly."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shieldstorm.storm.mutations.base import Message

Severity = Literal["low", "medium", "high", "critical"]

# How much one invariant counts in the weighted pass rate. A critical failure also fails the run outright.
SEVERITY_WEIGHTS: dict[str, float] = {"low": 0.5, "medium": 1.0, "high": 2.0, "critical": 4.0}

SCHEMA_VERSION = 1


class AgentReply(BaseModel):
    """What the agent under test answered (or why it did not)."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    latency_ms: float = 0.0
    error: str | None = Field(default=None, description="Cause when the agent failed: timeout, HTTP status, exception")


class InvariantOutcome(BaseModel):
    """The verdict of one invariant on one agent reply."""

    model_config = ConfigDict(extra="forbid")

    invariant: str
    type: str
    severity: Severity
    passed: bool
    reason: str = ""


class CaseResult(BaseModel):
    """One mutated input sent to the agent, its reply and every invariant verdict."""

    model_config = ConfigDict(extra="forbid")

    id: str
    golden_id: str
    mutation_type: str
    variant: int = 0
    weight: float = 1.0
    input: str
    messages: list[Message] = Field(default_factory=list)
    output: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    latency_ms: float = 0.0
    error: str | None = None
    passed: bool
    failures: list[InvariantOutcome] = Field(default_factory=list)
    checks: list[InvariantOutcome] = Field(default_factory=list)


class Breakdown(BaseModel):
    """Weighted pass rate of one slice (a mutation type or an invariant)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    score: float
    passed: int
    total: int
    failed_checks: int = 0


class ScoreCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95
    by_mutation_type: list[Breakdown] = Field(default_factory=list)
    by_invariant: list[Breakdown] = Field(default_factory=list)
    critical_failures: int = 0
    agent_errors: int = 0
    min_score: float = 0.0
    gate_passed: bool = True
    gate_reasons: list[str] = Field(default_factory=list)


class StormRun(BaseModel):
    """A finished storm run. `score`, `total`, `passed`, `seed` and `results` are the public CI contract."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    name: str = "storm"
    started_at: datetime
    finished_at: datetime
    duration_s: float = 0.0
    seed: int
    score: float
    total: int
    passed: int
    agent: str = ""
    config_digest: str = ""
    similarity_mode: str = "lexical"
    concurrency: int = 16
    score_card: ScoreCard
    results: list[CaseResult]
    baselines: list[CaseResult] = Field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.total - self.passed

    @property
    def gate_passed(self) -> bool:
        return self.score_card.gate_passed
