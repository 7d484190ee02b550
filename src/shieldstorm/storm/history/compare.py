"""Compare two runs: score deltas overall, per mutation type and per invariant; newly failing and fixed cases."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shieldstorm.storm.models import CaseResult, StormRun


class Delta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    before: float | None
    after: float | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


class CaseChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    golden_id: str
    mutation_type: str
    input: str
    failures: list[str]


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    before_id: str
    after_id: str
    score: Delta
    by_mutation_type: list[Delta]
    by_invariant: list[Delta]
    newly_failing: list[CaseChange]
    fixed: list[CaseChange]
    only_before: int
    only_after: int
    same_seed: bool


def _change(result: CaseResult, failing_side: CaseResult) -> CaseChange:
    return CaseChange(
        id=result.id,
        golden_id=result.golden_id,
        mutation_type=result.mutation_type,
        input=result.input,
        failures=[f"{f.invariant}: {f.reason}" for f in failing_side.failures],
    )


def _deltas(before: dict[str, float], after: dict[str, float]) -> list[Delta]:
    return [Delta(name=n, before=before.get(n), after=after.get(n)) for n in sorted(set(before) | set(after))]


def compare_runs(before: StormRun, after: StormRun) -> Comparison:
    """Cases are matched by id (a digest of golden id, mutation type, variant and seed)."""
    a = {r.id: r for r in before.results}
    b = {r.id: r for r in after.results}
    newly_failing = [_change(b[i], b[i]) for i in b if i in a and a[i].passed and not b[i].passed]
    fixed = [_change(b[i], a[i]) for i in b if i in a and not a[i].passed and b[i].passed]
    return Comparison(
        before_id=before.run_id,
        after_id=after.run_id,
        score=Delta(name="score", before=before.score, after=after.score),
        by_mutation_type=_deltas(
            {x.name: x.score for x in before.score_card.by_mutation_type},
            {x.name: x.score for x in after.score_card.by_mutation_type},
        ),
        by_invariant=_deltas(
            {x.name: x.score for x in before.score_card.by_invariant},
            {x.name: x.score for x in after.score_card.by_invariant},
        ),
        newly_failing=newly_failing,
        fixed=fixed,
        only_before=len(set(a) - set(b)),
        only_after=len(set(b) - set(a)),
        same_seed=before.seed == after.seed,
    )
